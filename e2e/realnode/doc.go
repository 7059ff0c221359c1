// Package realnode installs the umbrella chart with Helm into the real node
// test bed (e2e/framework/realnode), once for each cluster role the chart
// serves there: the seed (the Gardener extension), a cluster's own control
// plane (ccm, lb, mcm), the garden (the admission webhooks) and a Cluster
// API management cluster (the capi provider, which reconciles a
// MetalCluster of a Cluster API Cluster from its pods). Every pod
// runs from the metalkube image built here (`make image`) under a real
// kubelet: probes, securityContext, the read-only root filesystem and the
// chart's RBAC are exercised for real, and the webhooks answer over TLS
// through their Services with the CA the chart puts into their
// configurations (Prepare, InstallRole; `make demo` uses them too).
// TestShootOnRealNode runs the shoot flow (e2e/shoot, Input.Kubelet) with the
// node's API server as its control plane and the extension, ccm and
// machine-controller-manager as the node's pods. The tests need root and
// skip without it.
package realnode
