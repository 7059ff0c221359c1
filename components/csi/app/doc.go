// Package app builds `metalkube csi`, in one of two roles. --role=node (the
// default): the CSI driver (package driver) on the node's LVM volume group
// (package lvm), served on a unix socket, on every node beside the
// external-provisioner in node-deployment mode, node-driver-registrar and
// livenessprobe. --role=controller: the driver's cluster-wide half
// (driver.Central, no volume group) beside the external-resizer of the
// controller Deployment.
//
// Flags: --role (node|controller), --csi-endpoint (unix socket), --node-id
// (default: the host name), --driver-name, --volume-group, --devices (glob
// patterns of the disks the volume group is made of when missing; repeatable
// or comma-separated; required with --role=node), --activation
// (auto|dm|loop). Logging is the root command's (--log-level, --log-format).
// It talks to neither the Kubernetes API nor the bare-metal backend.
package app
