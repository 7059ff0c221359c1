// Package fleet plays the bare-metal side of metalkube's tests, e2e suite
// and demo on a real kube-apiserver, using metal-operator's own types and
// CRDs.
//
// Hardware is the fleet for the real metal-operator (testenv.StartMetalOperator)
// and the real Cluster API in-cluster IPAM provider (testenv.StartIPAM): it is
// only what cannot run here.
//
//   - one metal-operator Redfish mock BMC per server, each with a system UUID
//     of its own, registered as a BMC object (metal-operator creates the
//     Server from it and discovers it);
//   - the inventory's labels on each Server (size, zone, region, extras);
//     Add grows a running fleet by servers of one size;
//   - metal-operator's probe agent, run while a server is in Discovery and
//     powered on; where the process may create network namespaces (root),
//     each server's agent runs in a namespace of the server's own whose eth0
//     carries the server's MAC and its addresses from NodeNetwork and
//     NodeNetwork6 (the registry is forwarded into it), so each server
//     reports addresses of its own; elsewhere the agent reports this
//     machine's interfaces for every server;
//   - the boot operator's part: every ServerBootConfiguration is marked
//     Ready, and a claimed, powered-on server boots from the Ignition its
//     boot configuration references into a Node (hostname from the
//     Ignition, the server's system UUID) with kubelet heartbeats, which stop
//     when it powers off;
//   - fault knobs: an API outage for clients built with WrapConfig, a BMC that
//     answers 503 (SetBMCDown), slow power (SetPowerDelay: the BMC holds
//     power actions back), a power cut (CutPower: the BMC reports the server
//     off behind metal-operator's back), a lost server (LoseServer).
//
// Binding, power, phases and discovery are metal-operator's; IPs are the
// IPAM provider's. Nothing here plays metal-operator itself: the package's
// tests run its behaviours (binding by reference, NoBind taints and
// tolerations, boot into a heart-beating Node, a power cut followed by
// power-on and a new boot, release to Available and off, each server's own
// addresses) on the real metal-operator.
package fleet
