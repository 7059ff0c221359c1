// Package announce renders and applies the configuration that makes the
// cluster announce its LoadBalancer IPs over BGP: MetalLB's CRDs
// (IPAddressPool per backend network, BGPPeer per Node with the Node's ASN
// from a label, BGPAdvertisement per pool, optionally L2Advertisement) or
// Cilium's BGP control plane v2 CRDs (CiliumLoadBalancerIPPool per network,
// CiliumBGPClusterConfig per Node, one CiliumBGPPeerConfig and one
// CiliumBGPAdvertisement).
//
// Render is pure: the same input gives the same objects in the same order
// (golden files in testdata/). The Reconciler applies them with server-side
// apply, deletes the objects it applied earlier that are no longer rendered
// (label app.kubernetes.io/managed-by=metalkube-lb), and annotates each
// LoadBalancer Service with its IPs in the announcer's own annotation
// (metallb.io/loadBalancerIPs, lbipam.cilium.io/ips) so that the announcer
// assigns exactly the address the backend allocated. When the backend cannot
// be read it changes nothing: announcements are never withdrawn because of an
// outage.
//
// Backend calls: FindIPs (one per reconcile; reconciles are coalesced).
package announce
