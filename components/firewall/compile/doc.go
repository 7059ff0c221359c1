// Package compile turns ClusterwideNetworkPolicies and Services of type
// LoadBalancer and NodePort into one nftables table (an nft.Table).
//
// The forward chain drops by default, accepts established and related
// connections, drops invalid ones, applies per-interface rate limits, and
// sends new connections from an external interface to the ingress chain and
// from an internal interface to the egress chain. Each of those enforces the
// allowed networks and then finds the packet's rule in verdict maps of
// disjoint key ranges (source, destination, protocol, destination port,
// separately for IPv4 and IPv6; fields a map's elements cover whole are left
// out of its key), so the cost per packet does not grow with the number of
// rules. Rows of sources that share a port set become port groups: a
// port-set match, then a map of addresses. Every map element accepts and
// carries its own counter; a rule's count is the sum over the elements it
// owns (nft.Element.Owner), with no chain or named counter per rule. Egress
// rules only match sources in the cluster's node and pod networks (from
// Config, never a hard-coded range); a postrouting chain translates sources
// for SNAT.
//
// Invalid policies (bad CIDR, port 0, endPort below port, unsupported
// protocol, named ports) are left out and reported in Result.Policies; the
// rest of the ruleset is compiled as if they did not exist.
package compile
