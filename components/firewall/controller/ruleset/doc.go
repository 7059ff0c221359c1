// Package ruleset is the firewall agent's reconciler. It watches
// ClusterwideNetworkPolicies (firewall.metalkube.io/v1alpha1 and, optionally,
// metal-stack.io/v1) in one namespace and Services of type LoadBalancer and
// NodePort in all namespaces, and on every change — and every resync
// interval, to find and repair drift — compiles all of them into one
// nftables table and applies it in one netlink batch. Every event maps to the
// same request: like kube-proxy, the agent syncs the whole ruleset at once,
// and the applier sends only what changed.
//
// Policies the compiler rejects are marked ignored with a message and left
// out; valid ones are marked deployed once the ruleset holding them is in the
// kernel. A FirewallStatus object named after the firewall reports the rule
// count, counters, device statistics and the last apply error.
//
// The agent runs on each firewall host and programs that host's kernel, so it
// does not use leader election: every replica must act.
package ruleset
