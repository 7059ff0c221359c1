// Package driver implements the CSI Identity, Controller and Node services on
// one lvm2 volume group (package lvm), and serves them over a unix socket.
//
// Volumes: the volume ID is the logical volume's name, derived from the CSI
// volume name (the name itself where lvm2 accepts it, else "csi-" and a
// hash), so that CreateVolume is idempotent by name and a create cut short by
// a restart is finished, not doubled, by the retry: lvcreate tags a new
// volume unfinished, and only after its first MiB is zeroed does one
// lvchange mark it the driver's; a retry finishes an unfinished one. File
// systems are made at NodeStageVolume on a volume that has none.
//
// StorageClass parameters: type, linear (the default), striped or mirror
// (lvm.Layout). Striped and mirrored volumes need device-mapper and two
// disks: a node that cannot make them answers InvalidArgument naming
// parameters.type, the node, the volume group and the reason, and reports
// no capacity for them (GetCapacity 0), so that the scheduler looks
// elsewhere. A mirrored volume takes its size once per copy.
// Access types: mount (ext4 default, xfs) and block; access modes of one node
// only. Topology: one segment, TopologyKey = the node's ID.
//
// Errors follow the CSI spec: a size over the free space is ResourceExhausted
// naming the node and the volume group; a missing volume NotFound; a name
// reused with another size AlreadyExists; a bad field InvalidArgument naming it.
package driver
