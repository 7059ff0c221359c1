// Package metal is metalkube's provider-neutral bare-metal API client.
//
// Every metalkube component talks to the bare-metal backend only through the
// interfaces in this package. A backend implements Client; a consumer declares
// the narrow interface it needs (MachineAllocator, IPAllocator, ...) so that it
// can be tested against the memory backend or a fake.
//
// The backends are:
//
//   - ironcore (package metal/ironcore): IronCore's metal-operator. A machine is
//     a ServerClaim plus a Secret with its ignition / user data; IPs come from
//     Cluster API IPAM (IPAddressClaim).
//   - memory (package metal/memory): in-process, for unit tests.
//
// Errors are typed: test them with errors.Is against ErrNotFound, ErrConflict,
// ErrNoCapacity, ErrUnavailable and ErrUnsupported. Every error returned by a
// backend names the operation and the object it was about.
//
// The package conformance holds the suite every backend must pass.
package metal
