// Package integration tests `metalkube csi` against real peers: csi-sanity,
// the CSI conformance tester of the Kubernetes storage SIG (built from the Go
// module proxy by components/csi/hack/peers.sh, run by `make testbin`),
// drives the driver over its unix socket, the driver drives real lvm2 on loop
// devices the test creates, and file systems are made and mounted for real.
// The real external-provisioner and external-resizer (same script) and
// kube-controller-manager's volume controllers (hack/controlplane.sh) take a
// PVC through provisioning, binding, expansion and deletion against the test
// API server. BenchmarkCreateDelete100 sets the driver against lvcreate and
// lvremove called directly.
package integration
