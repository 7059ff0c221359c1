// Package driver is metalkube's machine-controller-manager out-of-tree driver
// (driver.Driver of github.com/gardener/machine-controller-manager) on the
// shared bare-metal client.
//
// A Machine is one machine of the backend, allocated under the Machine's name
// in the cluster of its MachineClass (package apis/v1alpha1). The name is the
// idempotency key: every call finds the machine by (cluster, name), so a retry,
// a restarted driver or a second replica never claims a second server.
//
// The calls and what they ask of the backend (metal.Machines, metal.IPs):
//
//   - CreateMachine: FindMachine, then AllocateMachine powered off, with the
//     image, size, partition, server labels, networks, SSH keys, tags and the
//     user data of the MachineClass Secret. It returns the provider ID and the
//     node name (the Machine's name).
//   - InitializeMachine: AllocateIP for each ipAddresses entry, SetMachinePower
//     on, then GetMachine until the server runs (bounded; codes.Uninitialized
//     makes machine-controller-manager come back).
//   - GetMachineStatus: FindMachine; codes.NotFound when there is none,
//     codes.Uninitialized (with provider ID and node name) until it runs.
//   - DeleteMachine: FindMachine, FreeMachine (by the provider ID when it is
//     not found, to complete an interrupted free), FindMachine until it is gone
//     (bounded; retried), then FindIPs and FreeIP for its addresses.
//   - ListMachines: ListMachines of the cluster, by provider ID.
//   - GetVolumeIDs: no backend call.
//
// Backend errors map to machine-controller-manager codes: unavailable ->
// Unavailable (retried soon), no capacity -> ResourceExhausted (retried after
// --resource-exhausted-retry), invalid -> InvalidArgument, not found ->
// NotFound, conflict -> AlreadyExists, unsupported -> Unimplemented.
package driver
