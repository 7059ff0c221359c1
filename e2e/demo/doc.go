// Package demo walks a cluster through its life on the local control plane
// and the fleet emulator, printing progress a person can follow: machines
// allocated through the ironcore backend, claims bound to servers, servers
// powered on and booted, nodes registered. `make demo` runs it (cmd/demo) and
// leaves a kubeconfig to look around with kubectl; the e2e tests run the same
// steps.
package demo
