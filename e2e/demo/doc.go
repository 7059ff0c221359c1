// Package demo is `make demo`: it starts the local control plane and runs the
// shared e2e flow (package shoot) on the real metal-operator and IPAM provider, with progress a
// person can follow, holds the running shoot for a look with kubectl, and on
// Ctrl-C deletes it and checks that every server, claim and IP is free again.
package demo
