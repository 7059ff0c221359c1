// Package realnode installs the umbrella chart with Helm into the real node
// test bed (e2e/framework/realnode), once for each cluster role the chart
// serves: the seed (the Gardener extension) and a cluster's own control
// plane (ccm, lb, mcm). Every pod runs from the metalkube image built here
// (`make image`), under a real kubelet: probes, securityContext, the
// read-only root filesystem and the chart's RBAC are exercised for real, and
// the extension's webhook answers over TLS through its Service. The test
// needs root and skips without it.
package realnode
