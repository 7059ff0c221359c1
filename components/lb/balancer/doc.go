// Package balancer gives Services of type LoadBalancer their IP addresses from
// the bare-metal backend.
//
// A Service gets an ephemeral IP per IP family (spec.ipFamilies) unless it asks
// for specific addresses, with spec.loadBalancerIP or the annotation
// lb.metalkube.io/ips (comma-separated, one per family). An address an IP of
// the project already holds is used as it is (as metal-ccm uses
// spec.loadBalancerIP), unless another cluster or another Service's
// ephemeral IP holds it; any other address is allocated as a static IP.
// Several Services may share a static IP. Every IP is tagged with each
// Service that uses it (tag lb.metalkube.io/service/<namespace>/<name>, the
// cluster as value; on metal-stack it is metal-ccm's
// cluster.metal-stack.io/id/namespace/service=<cluster>/<namespace>/<name>,
// so that a cluster moving from metal-ccm keeps its IPs). Releasing a
// Service removes its tag; an ephemeral IP is freed with its last Service
// tag. Static IPs are never freed: they stay reserved for the address, as
// with metal-ccm, until someone frees them explicitly.
//
// Bad requests fail with errors that say what is wrong (an address outside
// the network's pools, an address used elsewhere, an unparsable address) and
// allocate nothing; a backend outage fails with an error and frees nothing.
//
// Balancer has the method set of k8s.io/cloud-provider's LoadBalancer, so the
// ccm embeds it as is; components/lb/controller/service runs it as a standalone
// Service controller.
//
// Backend calls: FindIPs, AllocateIP, SetIPTags, FreeIP, GetIP.
package balancer
