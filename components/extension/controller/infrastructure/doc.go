// Package infrastructure reconciles Gardener Infrastructure resources of type
// metalkube: it allocates the cluster's private node network and its egress
// IPs through the shared bare-metal client (metal.Networks, metal.IPs) and
// reports them in status.providerStatus (an InfrastructureStatus), status.state
// (the same document, kept across control plane migration) and
// status.networking.
//
// Backend calls: AllocateNetwork, FindNetworks, FreeNetwork, AllocateIP,
// FindIPs, FreeIP. A backend without a network API (ironcore answers
// metal.ErrUnsupported) records no network and still succeeds: nodes then
// live on the backend's default network and status.networking.nodes is the
// Shoot's spec.networking.nodes.
package infrastructure
