// Package announce renders the configuration that makes the
// cluster announce its LoadBalancer IPs over BGP: MetalLB's CRDs
// (IPAddressPool per backend network, BGPPeer per Node with the Node's ASN
// from a label, BGPAdvertisement per pool, optionally L2Advertisement) or
// Cilium's BGP control plane v2 CRDs (CiliumLoadBalancerIPPool per network,
// CiliumBGPClusterConfig per Node, one CiliumBGPPeerConfig and one
// CiliumBGPAdvertisement).
//
// Render is pure: the same input gives the same objects in the same order
// (golden files in testdata/). The controller in controller/announce applies
// them.
package announce
