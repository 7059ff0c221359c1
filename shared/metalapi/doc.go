// Package metalapi is an HTTP emulator of metal-api, the metal-stack
// bare-metal API, for tests and the demo. It serves the endpoints the
// metalstack backend of the shared client calls (machines and firewalls,
// IPs, networks, projects, health, version), decodes requests into and
// encodes responses from metal-go's own generated models, and checks
// credentials the way metal-api does (HMAC by auth type, or a bearer token),
// so that a client built with metal-go talks to it unchanged.
//
// The real metal-api cannot run here (it needs RethinkDB, NSQ and go-ipam
// with a database). The emulator answers as metal-api v0.43.1 does — the
// version whose spec metal-go v0.43.1 was generated from — for every
// endpoint the backend calls: the same validation, status codes and
// messages, read from metal-api's cmd/metal-api/internal/service and
// datastore code. Each handler names the function it follows, so that the
// next metal-api version can be compared. In particular:
//
//   - Machine allocation (createMachineAllocationSpec, allocateMachine,
//     gatherNetworksFromSpec): 400 for missing networks, unknown size, image
//     or partition and more than 3 DNS / 5 NTP servers; 422 for invalid SSH
//     keys and for anything but exactly one private network of the project
//     in the partition ("no private network given"); 404 for an unknown
//     project or network. Images resolve to the newest matching build
//     ("ubuntu-24.04" -> "ubuntu-24.04.20250601"), and the allocation
//     reports the resolved ID. One IP is acquired per address family of each
//     auto-acquire network, tagged machine.metal-stack.io/id=<machine>;
//     system tags (primary ASN, rack, chassis) are added to the user's.
//   - Power and free are asynchronous: a power command changes the
//     reported power state only after PowerDelay (metal-bmc reports it); a
//     free drops the allocation at once, releases the machine's IPs after
//     ReleaseDelay (the async actor) and makes the machine allocatable
//     after ReclaimDelay (metal-hammer wipes it). Powering off a machine
//     that is still installing breaks the installation.
//   - IPs: a free address of the requested family (IPv4 by default on dual
//     stack), 500 "cannot allocate free ip in ipam, no ips left" when none
//     is left, 409 for a taken specific address, 422 for one outside the
//     network, 400 for freeing an IP of machine scope.
//   - Networks: child prefixes of the partition's private super network,
//     422 when none is left; freeing a network that still has IPs is 422
//     "prefix ... has ips, deletion not possible" (go-ipam).
//
// Where the emulator is simpler: the inventory is a fixed list of machines,
// allocation picks the first free one, IPv6 child networks are not carved,
// and there are no quotas, size reservations or filesystem layouts. Fault
// knobs: SetOutage answers 503 to every call, SetAllocationDelay makes
// machine allocation slow, SetAllocationContention refuses allocations with
// metal-api's "try again later", LoseMachine turns a machine's liveliness
// Dead, SetInstallDelay keeps freshly allocated machines installing,
// SetPowerDelay, SetReleaseDelay and SetReclaimDelay set the asynchronous
// delays, and SetVersion changes what /v1/version reports.
package metalapi
