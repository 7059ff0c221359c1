// Package integration runs the capi provider against the real Cluster API:
// the core manager, the kubeadm bootstrap provider and the kubeadm
// control-plane provider, built from the Go module proxy by
// components/capi/hack/peers.sh (`make testbin`), on the real kube-apiserver,
// with the real metal-operator and the real in-cluster IPAM provider behind
// the ironcore backend and the fleet's hardware (shared/fleet) booting the
// claimed servers into Nodes.
//
// The workload cluster is the test's own API server: a kubeconfig Secret for
// it (user-provided, so the control-plane provider keeps it) lets Cluster
// API's cluster cache read the Nodes the fleet registers. What cannot run
// here is played by the test and named so: `kubeadm init` on the first
// control-plane node (the kubeadm-config ConfigMap it leaves, which the
// control-plane provider reads as "initialized").
package integration
