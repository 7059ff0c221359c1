// Package metalstack is the metal-stack backend of the shared bare-metal
// client: metal.Client on metal-api, spoken through metal-go.
//
// How the client's concepts map onto metal-api:
//
//   - A machine is a metal-api machine allocation in the configured project,
//     with size, partition, image, user data (base64, as metal-api wants it),
//     SSH keys, DNS/NTP servers and networks: the cluster's private network
//     (if one was allocated in the partition) plus the configured and
//     requested networks, each with auto-acquire. Its ID is the machine UUID
//     and its provider ID metal://<partition>/<uuid>, the form metal-ccm
//     writes. Machines carry the tags cluster.metal-stack.io/id=<cluster> and
//     machine.metal-stack.io/name=<name>; FindMachine and ListMachines search
//     by them, and AllocateMachine looks there first, so that allocating the
//     same (cluster, name) twice returns the first machine.
//   - An IP is a metal-api IP (ID = the address) in the project, named after
//     the request and tagged with the cluster tag; user tags are "key=value"
//     strings, for example ServiceTag's, which bind an IP to a Service the way
//     metal-ccm does.
//   - A network is a child of the partition's private super network, labelled
//     with the cluster tag and the request name.
//   - Firewalls are machines allocated through the firewall endpoints; the
//     Firewalls interface of this package (not part of metal.Client) allocates,
//     finds and frees them.
//
// Errors are the typed errors of package metal: 404 is ErrNotFound, 409
// ErrConflict, 400/422 ErrInvalid, "no machine available" ErrNoCapacity,
// 5xx and connection failures ErrUnavailable (naming the URL), 401/403
// ErrInvalid wrapping ErrUnauthorized. Healthy checks metal-api's health, that
// its version accepts this client, and that the credentials may read the
// project, so that a wrong URL, key or project fails at start.
//
// Machine reads use metal-api's IPMI endpoints, which carry the power state;
// the credentials must be allowed to use them (Metal-Edit or above).
package metalstack
