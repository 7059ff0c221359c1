// Package webhook runs the capi provider's admission webhooks behind the
// real kube-apiserver: the API server calls them (configurations from
// webhooks.Configurations, served by `metalkube capi`'s own webhook server)
// and a user creating or changing a MetalCluster or MetalMachine sees their
// defaults and their refusals, with the field and the value named.
package webhook
