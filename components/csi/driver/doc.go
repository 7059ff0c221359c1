// Package driver implements the CSI Identity, Controller and Node services on
// one lvm2 volume group (package lvm), and serves them over a unix socket.
//
// Volumes: the volume ID is the logical volume's name, derived from the CSI
// volume name (the name itself where lvm2 accepts it, else "csi-" and a
// hash), so that CreateVolume is idempotent by name and a create cut short by
// a restart is finished, not doubled, by the retry. lvcreate is the only step
// of CreateVolume: a volume either exists whole or not at all; file systems
// are made at NodeStageVolume on a volume that has none.
//
// StorageClass parameters: type (linear; any other value is InvalidArgument).
// Access types: mount (ext4 default, xfs) and block; access modes of one node
// only. Topology: one segment, TopologyKey = the node's ID.
//
// Errors follow the CSI spec: a size over the free space is ResourceExhausted
// naming the node and the volume group; a missing volume NotFound; a name
// reused with another size AlreadyExists; a bad field InvalidArgument naming it.
package driver
