// Package integration holds the integration tests of components/mcm: the provider app
// (package app) with its driver on the ironcore backend, against a real
// kube-apiserver with the machine-controller-manager, metal-operator and
// Cluster API IPAM CRDs, the real metal-operator and IPAM provider, and the
// fleet's hardware (mock BMCs, probe, boot operator) playing the servers. The
// MachineDeployment tests also run the real machine-controller-manager core
// controller, built by hack/mcm-binary.sh; they skip when it is missing.
//
// The tests run in parallel, each in a namespace of its own with servers of a
// size of its own (added to the fleet when the test starts), on one shared
// metal-operator. A provider runs in-process as a
// "process" whose every request (API server and backend) goes through a kill
// switch, so a test can kill it like SIGKILL at a chosen backend request.
package integration
