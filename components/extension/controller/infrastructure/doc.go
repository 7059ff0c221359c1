// Package infrastructure reconciles Gardener Infrastructure resources of type
// metalkube: it allocates the cluster's private node network and its egress
// IPs through the shared bare-metal client (metal.Networks, metal.IPs) and
// reports them in status.providerStatus (an InfrastructureStatus), status.state
// (the same document, kept across control plane migration) and
// status.networking.
//
// On metal-stack it also runs the cluster's firewall (InfrastructureConfig
// firewall): a firewall machine (metalstack.Firewalls) named by a hash of its
// spec, booted with Ignition user data that runs `metalkube firewall` with a
// kubeconfig of the shoot. That kubeconfig belongs to the ServiceAccount
// kube-system/metalkube-firewall, which may only read Services and the
// policies and write FirewallStatus objects in the shoot's firewall
// namespace (a ManagedResource, which also brings the firewall's CRDs; the
// CRDs and the namespace stay when the firewall goes: they hold the users'
// policies); gardener-resource-manager puts its token
// into the shoot access Secret the extension reads. A changed spec rolls the
// firewall: the new one is allocated, and the old one is freed once the new
// one's agent reports an applied ruleset (its FirewallStatus, read from the
// shoot). The firewall's readiness is in status.providerStatus.firewall and
// in the Infrastructure's health check (package healthcheck).
//
// Backend calls: AllocateNetwork, FindNetworks, FreeNetwork, AllocateIP,
// FindIPs, FreeIP; AllocateFirewall, FindFirewalls, FreeFirewall (with the
// ownership check) on metal-stack. A backend without a network API (ironcore
// answers metal.ErrUnsupported) records no network and still succeeds: nodes
// then live on the backend's default network and status.networking.nodes is
// the Shoot's spec.networking.nodes. A backend without firewall machines
// refuses an enabled firewall as a configuration problem.
package infrastructure
