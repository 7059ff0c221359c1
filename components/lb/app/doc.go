// Package app builds `metalkube lb`: the standalone Service controller for
// LoadBalancer IPs (package controller/service) and the announcement configuration
// (package announce), in one controller-runtime manager with leader election.
//
// Flags: the runtime flags of shared/component (--kubeconfig, leader
// election, metrics and probes), the backend flags of shared/options,
// --metal-cluster (the cluster's name in the backend), --lb-network /
// --lb-network-ipv6 (backend networks of IPv4 / IPv6 addresses), --load-balancer-class, --announce
// (metallb|cilium|none) with --metallb-namespace, --bgp-asn-node-label,
// --bgp-peer-address(-node-label), --bgp-peer-asn, --l2-advertisement
// (package options, which the ccm binds too).
// Logging is the root command's (--log-level, --log-format).
package app
