// Package webhooks holds the defaulting and validating admission webhooks of
// the capi provider's types. Every error names the field and the value.
//
// MetalCluster: the endpoint port defaults to 6443 once a host is given; a
// host must be an IP or a DNS name; without a host, spec.controlPlaneNetwork
// must name the backend network to allocate it from; failure domains are
// unique; a set endpoint host does not change.
//
// MetalMachine: an image is required; the server selector supports
// matchLabels only (the backends select by exact label values) with valid
// label keys and values; image, selector, size, partition and networks do
// not change after creation (Cluster API replaces machines instead), and the
// provider ID, once set, stays.
//
// Templates are validated like what they stamp out, and are immutable.
package webhooks
