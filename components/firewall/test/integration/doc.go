// Package integration holds the firewall's packet tests and data-path
// benchmarks: real TCP and UDP traffic between network namespaces, routed
// through a firewall namespace whose ruleset the agent's compiler and applier
// wrote. It has no non-test code.
package integration
