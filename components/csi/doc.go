// Package csi is metalkube's Container Storage Interface driver: local LVM
// logical volumes on the disks of a bare-metal node (`metalkube csi`).
//
// One process runs on every node (--role=node) and serves the three CSI
// services over a unix socket: Identity; Controller (CreateVolume,
// DeleteVolume, ControllerExpandVolume, GetCapacity, ListVolumes,
// ValidateVolumeCapabilities) for the volumes of its own node, which the
// external-provisioner runs beside it in node-deployment mode; and Node
// (stage, publish, expand, volume stats; NodeExpandVolume also grows the
// logical volume). The cluster-wide half (--role=controller, driver.Central)
// has no volume group: it serves the external-resizer of the controller
// Deployment, claiming node-side expansion only, so that a resize is recorded
// centrally and done on the volume's node.
// A volume lives on one node: its accessible topology is the node's
// topology.lvm.csi.metalkube.io/node segment.
//
// Packages:
//
//	lvm     the lvm2 commands (vgcreate, lvcreate, lvextend, lvremove, lvs)
//	        on one volume group built from a device pattern
//	driver  the CSI services on top of lvm, and the unix-socket gRPC server
//	app     `metalkube csi`: flags and wiring only
//
// The driver makes no calls to the bare-metal backend and none to the
// Kubernetes API: capacity (CSIStorageCapacity) and the PersistentVolume life
// cycle belong to the external-provisioner and external-resizer sidecars.
package csi
