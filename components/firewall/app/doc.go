// Package app builds `metalkube firewall`, the firewall agent: it runs on a
// firewall host that routes between a cluster's private network and the
// outside, watches the cluster's ClusterwideNetworkPolicies and Services of
// type LoadBalancer/NodePort, and keeps one nftables table (family inet) in
// the host's kernel equal to what they allow.
//
// Flags (see options.go for the constants): the runtime flags of
// shared/component (--kubeconfig, --metrics-bind-address,
// --health-probe-bind-address; leader election is off, every firewall host
// runs its own agent), the external and internal
// interfaces, the cluster's node and pod CIDRs, allowed networks, SNAT,
// per-interface rate limits, the nflog group for dropped packets, the policy
// namespace, --metal-stack-policies to also read metal-stack.io/v1 policies
// (compiled with firewall-controller's semantics where stricter),
// --dns-proxy-address (with --dns-upstream, --fqdn-state-file, --fqdn-min-ttl,
// --fqdn-max-ttl, --fqdn-max-entries) to run the DNS proxy that makes toFQDNs
// egress rules work, --fail-closed (default on) to drop forwarded traffic
// until the first sync on a host without a ruleset, --kube-api-qps and
// --kube-api-burst for the API client's rate limits, --suricata-socket
// for IDS statistics, --netns to manage another network namespace's ruleset,
// and --dry-run to print the ruleset instead of applying
// it (from the cluster, or offline from --policy-file).
//
// It serves Prometheus metrics (--metrics-bind-address): per-rule packet and
// byte counters, accepted and dropped totals, apply and drift statistics,
// suricata's counters; logs dropped packets from nflog; and keeps a
// FirewallStatus object named after the firewall up to date.
//
// The agent makes no calls to the bare-metal backend: its inputs are the
// cluster's API objects and its flags.
package app
