// Package topology builds the three network namespaces the firewall's packet
// tests route real traffic through: a host outside, the firewall, and a
// cluster node.
package topology
