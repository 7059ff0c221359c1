// Package service is the standalone Service controller behind
// `metalkube lb`: for clusters that keep another cloud-controller-manager, it
// does what the ccm's service controller does with package balancer. For
// each Service of type LoadBalancer (of its load-balancer class, or without
// one if no class is configured) it allocates the IPs, writes them into the
// Service's status, and holds a finalizer so that the IPs are released when
// the Service is deleted or stops being a LoadBalancer.
//
// A request that cannot succeed (an address outside the pools or in use) is
// reported as a Warning Event on the Service and allocates nothing; a backend
// outage is retried with backoff and frees nothing.
//
// Backend calls: those of package balancer.
package service
