// Package metalapi is an HTTP emulator of metal-api, the metal-stack
// bare-metal API, for tests and the demo. It serves the endpoints the
// metalstack backend of the shared client calls (machines and firewalls,
// IPs, networks, projects, health, version), decodes requests into and
// encodes responses from metal-go's own generated models, and checks
// credentials the way metal-api does (HMAC by auth type, or a bearer token),
// so that a client built with metal-go talks to it unchanged.
//
// It is an emulator of the peer, not a reimplementation: the inventory is a
// fixed list of machines with partitions and sizes, networks are IP pools
// (external networks) or private super networks that cluster networks are
// carved from, and allocation picks the first free machine. Fault knobs
// mirror those of the fleet emulator: SetOutage answers 503 to every call,
// SetAllocationDelay makes machine allocation slow, LoseMachine turns a
// machine's liveliness Dead, SetInstallDelay keeps freshly allocated machines
// installing for a while, and SetVersion changes what /v1/version reports.
package metalapi
