// Package metalstack is the metal-stack backend of the shared bare-metal
// client: metal.Client on metal-api, spoken through metal-go.
//
// How the client's concepts map onto metal-api:
//
//   - A machine is a metal-api machine allocation in the configured project,
//     with size, partition, image, user data (base64, as metal-api wants it),
//     SSH keys, DNS/NTP servers and networks: the cluster's private network
//     in the partition plus the configured and requested networks, each with
//     auto-acquire. metal-api allocates no machine without exactly one
//     private network, so a cluster without one gets one ("nodes"), unless
//     Config.RequirePrivateNetwork makes that an error (ErrNoPrivateNetwork).
//     Its ID is the machine UUID and its provider ID
//     metal://<partition>/<uuid>, the form metal-ccm writes. Machines carry
//     the tags cluster.metal-stack.io/id=<cluster> and
//     machine.metal-stack.io/name=<name>; FindMachine and ListMachines search
//     by them (and FindMachine by allocation name for machines
//     mcm-provider-metal allocated), and AllocateMachine looks there first,
//     so that allocating the same (cluster, name) twice returns the first
//     machine. The system tags metal-api adds (primary ASN, rack, chassis)
//     are labels, not user tags; the image is the one metal-api resolved.
//   - metal-api is asynchronous: SetMachinePower waits until metal-bmc
//     reports the new power state, FreeMachine until the machine's IPs are
//     released and the machine is reclaimed, FreeNetwork retries while the
//     IPs of freed machines are being released, and AllocateMachine with
//     PowerOff waits for the installation before it powers off; all within
//     Config.WaitTimeout (ErrUnavailable after it).
//   - An IP is a metal-api IP (ID = the address) in the project, named after
//     the request and tagged with the cluster tag; user tags are "key=value"
//     strings. metalkube's Service tags (metal.TagServicePrefix) are stored as
//     metal-ccm's, cluster.metal-stack.io/id/namespace/service=
//     <cluster>/<namespace>/<name>, so IPs metal-ccm allocated belong to
//     their cluster and metal-stack tooling reads metalkube's. Cluster
//     membership compares the cluster exactly (metal-ccm compares a prefix).
//     IPs of machine scope are never freed (metal-api releases them with the
//     machine) nor used for Services. Tag updates of one IP are serialised
//     and re-read before each write (UpdateIPTags); metal-api has no
//     precondition on updates, so two processes can still overwrite each
//     other.
//   - A network is a child of the partition's private super network, labelled
//     with the cluster tag and the request name.
//   - Firewalls are machines allocated through the firewall endpoints; the
//     Firewalls interface of this package (not part of metal.Client) allocates,
//     finds and frees them.
//
// Errors are the typed errors of package metal: 404 is ErrNotFound, 409
// ErrConflict, 400/422 ErrInvalid; exhaustion (no machine available, no ips
// left, no child prefix left, whatever the code) ErrNoCapacity; "try again
// later", 5xx and connection failures ErrUnavailable (naming the URL); 401/403
// ErrInvalid wrapping ErrUnauthorized. Healthy checks metal-api's health, that
// its version accepts this client, and that the credentials may read the
// project, so that a wrong URL, key or project fails at start.
//
// Machine reads use metal-api's IPMI endpoints, which carry the power state;
// the credentials must be allowed to use them (Metal-Edit or above).
package metalstack
