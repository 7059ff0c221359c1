// Package kubeconfig loads kubeconfigs that a tenant supplies (the
// cloudprovider Secret of a shoot) without trusting them.
//
// Such a kubeconfig is mounted into the seed, where metalkube's components run
// with the seed's identity and files. Anything in it that reaches beyond the
// kubeconfig's own bytes is refused: exec plugins and auth providers (they run
// programs or fetch tokens on the seed), token, certificate, key and CA file
// paths (they read the seed's files), and impersonation. What remains is a
// server URL and inline credentials (certificate-data, key-data, token,
// username/password). The same allow-list applies in admission
// (components/extension's Secret validator) and where a component loads the
// file (shared/options), so a Secret that slipped past admission still does
// nothing. Gardener's own kubeconfig allow-list
// (pkg/client/kubernetes.ValidateConfigWithAllowList) refuses the same auth
// fields; this package adds the cluster's CA file and names the offending
// field by its kubeconfig path.
package kubeconfig
