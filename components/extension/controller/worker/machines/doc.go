// Package machines renders the machine objects of a Worker: per pool and zone
// one MachineClass (provider "metalkube", providerSpec the mcm driver's
// mcm.metalkube.io/v1alpha1 ProviderSpec), its user-data Secret (with the
// pool's extraIgnition merged in) and a MachineDeployment. Render
// is a pure function of its Input, so its output is tested with golden files.
package machines
