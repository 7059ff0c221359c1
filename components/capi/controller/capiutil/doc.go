// Package capiutil holds what both controllers of the capi provider share:
// the backend names of a Cluster API object (the cluster and machine names
// the shared client is called with), conditions, pause detection and the
// owners a MetalCluster or MetalMachine hangs off.
package capiutil
