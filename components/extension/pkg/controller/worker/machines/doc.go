// Package machines renders the machine objects of a Worker: per pool and zone
// one MachineClass (provider "metalkube", providerSpec a
// MachineProviderConfig), its user-data Secret and a MachineDeployment. Render
// is a pure function of its Input, so its output is tested with golden files.
package machines
