// Package integration tests the extension's controllers on a real
// kube-apiserver (shared/testenv) with Gardener's extension CRDs, the
// ManagedResource CRD and machine-controller-manager's CRDs: one manager with
// the production switches (app.ControllerSwitches) and the memory bare-metal
// backend, plus a small stand-in for machine-controller-manager (fakemcm.go)
// that does what the generic worker actuator waits for.
package integration
