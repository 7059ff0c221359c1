// Package app builds `metalkube capi`: the Cluster API infrastructure
// provider (MetalCluster and MetalMachine controllers, package controller/,
// and the admission webhooks, package webhooks) in one controller-runtime
// manager with leader election, on the shared bare-metal client.
//
// Flags: the runtime flags of shared/component (--kubeconfig, leader
// election, metrics and probes), the backend flags of shared/options
// (--backend=ironcore|metalstack and its connection settings),
// --webhook-port (0: no webhook server, e.g. where the chart has no
// certificates), --webhook-cert-dir, --machine-concurrency, --poll-interval
// (how often a machine that is not yet running is looked at) and
// --retry-interval (how long the provider waits after a condition it cannot
// change: no matching server, a missing bootstrap Secret, a backend outage).
// Logging is the root command's (--log-level, --log-format).
package app
