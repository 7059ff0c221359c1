// Package worker reconciles Gardener Worker resources of type metalkube with
// gardener's generic worker actuator and a delegate that renders, per worker
// pool and zone, a MachineClass for the `metalkube mcm` driver (provider
// spec: the mcm driver's mcm.metalkube.io/v1alpha1 ProviderSpec), the
// MachineClass's user-data Secret and a MachineDeployment. The machine images
// in use are recorded in status.providerStatus (a WorkerStatus).
//
// The delegate makes no backend calls: the mcm driver allocates the
// machines. It writes only what changed: every applied object carries a hash
// of its desired content, so a steady-state reconcile of many pools reads one
// list per kind and writes nothing (see BenchmarkDeployMachineClasses).
package worker
