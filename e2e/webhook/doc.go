// Package webhook tests metalkube's admission webhooks the way a garden
// runs them without hand-made certificates: `metalkube admission` generates
// its serving certificate and CA (Gardener's secrets manager, in Secrets of
// its namespace, rotated by the component), registers its webhook
// configurations with that CA bundle itself, and the API servers call it
// over TLS: the real kube-apiserver for cloudprovider Secrets, and the real
// gardener-apiserver (Gardener's aggregated API server, run by the test
// control plane) for Shoots and CloudProfiles, after Gardener's own
// admission plugins.
package webhook
