// Package announce is the controller that applies what package lb/announce
// renders, with server-side apply, and deletes the objects it applied
// earlier that are no longer rendered (label
// app.kubernetes.io/managed-by=metalkube-lb). It annotates each
// LoadBalancer Service with its IPs in the announcer's own annotation
// (metallb.io/loadBalancerIPs, lbipam.cilium.io/ips) so that the announcer
// assigns exactly the address the backend allocated. When the backend cannot
// be read it changes nothing: announcements are never withdrawn because of an
// outage.
//
// Backend calls: FindIPs (one per reconcile; reconciles are coalesced).
package announce
