// Package balancer gives Services of type LoadBalancer their IP addresses from
// the bare-metal backend.
//
// A Service gets an ephemeral IP per IP family (spec.ipFamilies) unless it asks
// for specific addresses, with spec.loadBalancerIP or the annotation
// lb.metalkube.io/ips (comma-separated, one per family); those are static IPs,
// and several Services may share one. Every IP is tagged with each Service
// that uses it (tag lb.metalkube.io/service/<namespace>/<name>); releasing a
// Service removes its tag, and an IP that metalkube allocated is freed when
// its last Service tag is gone. Static IPs allocated outside metalkube are
// only untagged, never freed.
//
// Bad requests fail with errors that say what is wrong (an address outside
// the network's pools, an address used elsewhere, an unparsable address) and
// allocate nothing; a backend outage fails with an error and frees nothing.
//
// Balancer has the method set of k8s.io/cloud-provider's LoadBalancer, so the
// ccm embeds it as is; components/lb/controller runs it as a standalone
// Service controller.
//
// Backend calls: FindIPs, AllocateIP, SetIPTags, FreeIP, GetIP.
package balancer
