// Package metalmachine reconciles MetalMachines: for the Cluster API Machine
// that owns one, it allocates a machine through the shared bare-metal
// client with the Machine's bootstrap data, and reports the provider ID,
// addresses, failure domain and provisioning state back per the Cluster API
// v1beta2 contract. Deleting a MetalMachine frees its backend machine after
// the backend's ownership check.
//
// Bad input waits with a condition instead of an error loop: a Machine
// without bootstrap data yet, or naming a Secret that is not there
// (BootstrapDataReady=False), no free server matching the selector, size
// and partition (ServerReady=False, NoMatchingServer), a request the backend
// calls invalid (InvalidSpec). A paused Cluster (or the paused annotation)
// stops all changes and sets Paused=True. Every fact lives on the objects
// (the backend machine is found again by its namespace-qualified name), so
// `clusterctl move` carries a MetalMachine to another management cluster.
//
// Backend calls: AllocateMachine (idempotent on cluster and name),
// FindMachine, FreeMachine with the owner.
package metalmachine
