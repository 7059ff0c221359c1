// Package fqdn implements egress rules to DNS names: a DNS proxy on the
// firewall forwards the cluster's queries to an upstream resolver and, before
// it answers, adds the A and AAAA records of names that match a policy's
// toFQDNs selectors to that rule's nftables sets, each address expiring with
// its record's TTL (raised to MinTTL, capped at MaxTTL). The addresses are
// also kept in a state file, so that after a restart the agent's first
// ruleset already holds them.
//
// The proxy is bounded: an answer's A and AAAA records count only when their
// owner is the queried name or a name the answer's CNAME chain leads to from
// it (an upstream cannot smuggle in addresses of other names); at most
// MaxEntries addresses are kept; the state file is written at most every
// SaveInterval, outside the lock answers take; a state file that cannot be
// read is logged and replaced by an empty one.
//
// Selectors follow metal-stack's semantics: matchName matches one name
// (case-insensitive, trailing dot optional); in matchPattern "*" matches any
// run of name characters, dots included, so "*.example.com" matches
// "a.b.example.com".
package fqdn
