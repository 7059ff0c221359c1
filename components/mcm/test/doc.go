// Package test holds the integration tests of components/mcm: the provider app
// (package app) with its driver on the ironcore backend, against a real
// kube-apiserver with the machine-controller-manager, metal-operator and
// Cluster API IPAM CRDs, and the fleet emulator playing the servers. The
// MachineDeployment tests also run the real machine-controller-manager core
// controller, built by hack/mcm-binary.sh; they skip when it is missing.
package test
