// Package ironcore is the metal.Client backend for IronCore's metal-operator
// (metal.ironcore.dev/v1alpha1).
//
// # Machines
//
// A machine is a ServerClaim in the backend's namespace plus a Secret of the
// same name holding its user data under the key "ignition" (the key
// metal-operator's boot configuration reads). metal-operator binds the claim to
// a Server and powers it on. The machine ID is the claim name; the provider ID
// is metal://<namespace>/<claim>. A machine's addresses are its server's
// network interface addresses without link-local and loopback ones (the
// discovery probe reports fe80:: addresses, which reach no one off the link).
//
// Metadata metalkube keeps on a claim:
//
//	label      metal.metalkube.io/cluster   the owning cluster
//	annotation metal.metalkube.io/name      the MachineSpec.Name
//	annotation metal.metalkube.io/hostname  the requested hostname
//	annotation metal.metalkube.io/tags      the tags, as a JSON object
//
// # IPs
//
// metal-operator has no IP API. IPs are Cluster API IPAM IPAddressClaims
// (ipam.cluster.x-k8s.io/v1beta2) answered by the Cluster API in-cluster IPAM
// provider (sigs.k8s.io/cluster-api-ipam-provider-in-cluster, v1.1.0 and
// later) from its InClusterIPPool / GlobalInClusterIPPool objects. The
// contract, as that provider implements it:
//
//   - Claims carry no spec.clusterName. The provider reconciles a claim with a
//     clusterName only while a Cluster API Cluster of that name exists in the
//     namespace, and skips it while that Cluster is paused. A metalkube
//     cluster (a Gardener shoot) is not a Cluster API Cluster: creating
//     Cluster objects for it would hand them to Cluster API's own controllers
//     wherever Cluster API also runs, and let `clusterctl move` or a paused
//     Cluster of the same name stall metalkube's IPs. The owning cluster is
//     metalkube's label metal.metalkube.io/cluster instead.
//   - A network has one pool per IP family (the provider's pools have one
//     prefix). Config.Pools lists them; the family a pool serves is read
//     from its addresses. An IPSpec's Family picks the pool; none picks IPv4
//     where the network has it. A family the network has no pool for is
//     ErrInvalid, never an address of the other family.
//   - A static address is the requested one or an error. The provider cannot
//     pin an address, so the backend takes the address out of its network
//     pool (spec.excludedAddresses, an optimistic-locked update), checks that
//     no IPAddress of that pool holds it (ErrConflict), and claims it from a
//     one-address InClusterIPPool named after the claim. An address outside
//     every pool of the network is ErrInvalid naming it; one already taken is
//     ErrConflict. Freeing waits until the provider has released the claim,
//     then returns the address to the network pool and deletes the
//     one-address pool.
//   - The provider never reports an exhausted pool: it retries the claim
//     forever and keeps its finalizer on it. The backend reads the pool's
//     status (ipAddresses.free): a pool with no free address is ErrNoCapacity
//     before any claim is created, and a claim the pool cannot serve is
//     deleted, and waited for until the provider has dropped its finalizer,
//     before ErrNoCapacity is returned. Nothing is left behind.
//   - A provider that does not answer within IPTimeout is ErrUnavailable; the
//     claim stays, and a retry of the same request picks it up.
//   - While AllocateIP waits for the provider, it looks at its claim when the
//     claim changes: with a client that can watch (client.WithWatch, which
//     shared/options builds), one watch of the namespace's IPAddressClaims,
//     opened at the current resource version while anyone waits, wakes the
//     waiters of the claim it reports; each waiter still looks on its own
//     every second at most (a watch can break, and exhaustion is read from
//     the pool). Without a watch, each waiter polls (5ms doubling to 200ms).
//
// What an IP is searched by is indexed as labels, so that the API server
// selects: metal.metalkube.io/cluster, metal.metalkube.io/network,
// metal.metalkube.io/ip-type, and one tags.metalkube.io/<hash of key> label
// per tag whose value is a hash of the tag's value (tags are free text, labels
// are not). The tags themselves are kept in the annotation
// metal.metalkube.io/tags and decide every match.
//
// # Networks
//
// Networks are not supported (ErrUnsupported): metal-operator clusters are
// wired by the data center, not through an API.
//
// # Calls
//
// Servers are read (list for capacity checks, get for a machine's details);
// ServerClaims, Secrets and IPAddressClaims are created, read, patched and
// deleted; IPAddresses are read; IP pools are read, a network pool's
// excludedAddresses is updated and one-address InClusterIPPools are created
// and deleted for static IPs.
package ironcore
