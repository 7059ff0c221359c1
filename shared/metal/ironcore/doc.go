// Package ironcore is the metal.Client backend for IronCore's metal-operator
// (metal.ironcore.dev/v1alpha1).
//
// A machine is a ServerClaim in the backend's namespace plus a Secret of the
// same name holding its user data under the key "ignition" (the key
// metal-operator's boot configuration reads). metal-operator binds the claim to
// a Server and powers it on. The machine ID is the claim name; the provider ID
// is metal://<namespace>/<claim>.
//
// Metadata metalkube keeps on a claim:
//
//	label      metal.metalkube.io/cluster   the owning cluster
//	annotation metal.metalkube.io/name      the MachineSpec.Name
//	annotation metal.metalkube.io/hostname  the requested hostname
//	annotation metal.metalkube.io/tags      the tags, as a JSON object
//
// metal-operator has no IP API; IPs are Cluster API IPAM IPAddressClaims
// (ipam.cluster.x-k8s.io/v1beta2) against the pool configured for each network,
// answered by an IPAM provider with an IPAddress. A static address is asked for
// with the annotation ipam.metalkube.io/requested-address, an address family of
// a dual-stack pool with ipam.metalkube.io/requested-family; the IPAM provider
// answers a taken or out-of-range address with a Ready=False condition whose
// reason is AddressInUse or AddressOutOfRange.
//
// Networks are not supported (ErrUnsupported): metal-operator clusters are
// wired by the data center, not through an API.
//
// Calls: Servers are read (list for capacity checks, get for a machine's
// details); ServerClaims, Secrets and IPAddressClaims are created, read, patched
// and deleted; IPAddresses are read.
package ironcore
