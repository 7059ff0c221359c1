// Package app builds `metalkube csi`: the CSI driver (package driver) on the
// node's LVM volume group (package lvm), served on a unix socket. It runs on
// every node, beside the external-provisioner in node-deployment mode, the
// external-resizer, node-driver-registrar and livenessprobe.
//
// Flags: --csi-endpoint (unix socket), --node-id (default: the host name),
// --driver-name, --volume-group, --devices (glob patterns of the disks the
// volume group is made of when missing; repeatable or comma-separated),
// --activation (auto|dm|loop). Logging is the root command's (--log-level,
// --log-format). It talks to neither the Kubernetes API nor the bare-metal
// backend.
package app
