// Package webhook tests metalkube's admission webhooks the way a garden
// runs them without hand-made certificates: `metalkube admission` generates
// its serving certificate and CA (Gardener's secrets manager, in Secrets of
// its namespace, rotated by the component), registers its webhook
// configurations with that CA bundle itself, and the real kube-apiserver
// calls it over TLS.
package webhook
