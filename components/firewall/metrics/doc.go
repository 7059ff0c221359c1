// Package metrics exposes the firewall's nftables counters to Prometheus:
// packets and bytes per rule (labelled with the policy or Service the rule
// comes from), accepted and dropped totals, and the agent's apply and drift
// statistics. Counters are read from the kernel at scrape time.
package metrics
