// Package fleet is the fleet emulator: it plays the bare-metal side of
// metalkube's tests, e2e suite and demo on a real kube-apiserver, using
// metal-operator's own types and CRDs.
//
// It stands in for metal-operator (and the servers' kubelets), which is what
// it emulates; it is not a mock of metalkube. IPs come from the real Cluster
// API in-cluster IPAM provider (testenv.StartIPAM), not from the emulator. It:
//
//   - creates Servers (sizes, zone/region labels, network interfaces with IPs)
//     and moves them through Initial -> Discovery -> Available;
//   - binds ServerClaims as metal-operator does (server ref or label selector,
//     NoBind taints and tolerations, never two claims on one server, optimistic
//     locking on the Server), powers bound servers on or off as claimed, and
//     releases servers when their claim is deleted;
//   - "boots" a powered-on claimed server: reads the claim's ignition Secret,
//     takes the hostname from it (Ignition's /etc/hostname or cloud-init's
//     hostname), and registers a Node with the server's system UUID, then keeps
//     its Ready condition fresh like a kubelet;
//   - injects faults: an API outage for clients built with WrapConfig, slow
//     power-on, a lost server, a server powered off under its node.
package fleet
