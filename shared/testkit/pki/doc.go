// Package pki issues the certificates test control planes need: a CA,
// client certificates (with groups) and serving certificates signed by it,
// as PEM. The real node's API server and kubelet, webhook servers and the
// aggregation layer of the test control plane (its front proxy and
// gardener-apiserver's serving certificate) use it. Certificates are valid
// for ten days.
package pki
