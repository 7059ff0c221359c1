// Package capitest runs Cluster API's own managers against a test
// environment for the capi provider's test suites: the core manager and
// the kubeadm bootstrap and control-plane providers, built from the Go
// module proxy by components/capi/hack/peers.sh (`make testbin`), and the
// webhook serving certificate they need to start.
package capitest
