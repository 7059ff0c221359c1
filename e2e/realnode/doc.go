// Package realnode installs the umbrella chart with Helm into the real node
// test bed (e2e/framework/realnode), once for each cluster role the chart
// serves there: the seed (the Gardener extension), a cluster's own control
// plane (ccm, lb, mcm) and the garden (the admission webhooks). Every pod
// runs from the metalkube image built here (`make image`) under a real
// kubelet: probes, securityContext, the read-only root filesystem and the
// chart's RBAC are exercised for real, and the webhooks answer over TLS
// through their Services with the CA the chart puts into their
// configurations (Prepare, InstallRole; `make demo` uses them too). The
// test needs root and skips without it.
package realnode
