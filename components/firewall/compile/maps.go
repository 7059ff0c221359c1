package compile

import (
	"sort"

	"github.com/metalkube/metalkube/components/firewall/nft"
)

// The verdict maps. After the key space is cut into disjoint boxes, the
// boxes are grouped by shape: the key fields a box restricts (a field a box
// covers whole is left out of its map's key). Every shape gets one verdict
// map whose elements accept and count: the maps carry per-element counters,
// and a rule's counter is the sum over the elements it owns, so the kernel
// holds no chain and no named counter per rule. Since the boxes are disjoint
// across all maps, a packet matches at most one element of one map, and the
// order of the map lookups does not matter.
//
// Leaving whole fields out matters for the kernel's cost: ingress policies
// restrict sources and ports but never destinations, so their key is three
// fields, not four. The most selective field comes first (sources for
// ingress, destinations for egress): the kernel's interval-concatenation set
// checks each new element for overlaps against the elements matching its
// leading fields, so a leading field that most elements share (a protocol,
// a port) makes loading n elements cost n^2.

// Dimensions of a box, in the order the compiler cuts them.
const (
	dimProto = iota
	dimPort
	dimSaddr
	dimDaddr
)

// dimOrder is the order of a map's key fields per direction: the field that
// differs most between rules first.
var dimOrder = map[string][]int{
	ChainIngress: {dimSaddr, dimDaddr, dimPort, dimProto},
	ChainEgress:  {dimDaddr, dimSaddr, dimPort, dimProto},
}

var dimLetter = [4]string{"p", "t", "s", "d"}

// The verdict maps' fields and key types per family, by dimension.
var mapFields = [2][]nft.Field{
	{nft.L4Proto, nft.THDport, nft.IPSaddr, nft.IPDaddr},
	{nft.L4Proto, nft.THDport, nft.IP6Saddr, nft.IP6Daddr},
}

var mapKeys = [2][]nft.KeyType{
	{nft.InetProto, nft.InetService, nft.IPv4Addr, nft.IPv4Addr},
	{nft.InetProto, nft.InetService, nft.IPv6Addr, nft.IPv6Addr},
}

// verdictMap is one map and the fields a rule looks up in it.
type verdictMap struct {
	set    *nft.Set
	fields []nft.Field
}

// verdictMaps groups the disjoint boxes of one chain and family by shape.
// The maps are named <chain><family>-<fields>, e.g. ingress4-stp (source,
// port, protocol). Elements that are single values in every field go to a
// map of their own, <name>-exact: the kernel keeps it as a hash table, where
// adding an element costs the same however many there are, while an
// interval concatenation (pipapo) grows its lookup tables with every element
// and loading n elements costs about n^2.
func verdictMaps(chain string, fam int, boxes []box, rules []rule) []verdictMap {
	whole := [4]span{anyL4, anyPt, full4, full4}
	if fam == 1 {
		whole[dimSaddr], whole[dimDaddr] = full6, full6
	}
	byShape := map[string]*verdictMap{}
	var names []string
	for _, b := range boxes {
		// An address field stays when both are whole: it is what limits
		// the lookup to the map's family.
		first := dimOrder[chain][0]
		var dims []int
		for _, d := range dimOrder[chain] {
			if b.s[d] != whole[d] || d == first && b.s[dimSaddr] == whole[dimSaddr] && b.s[dimDaddr] == whole[dimDaddr] {
				dims = append(dims, d)
			}
		}
		name := chain + famSuffix[fam] + "-"
		exact := true
		for _, d := range dims {
			name += dimLetter[d]
			exact = exact && b.s[d].lo == b.s[d].hi
		}
		if exact {
			name += "-exact"
		}
		m := byShape[name]
		if m == nil {
			m = &verdictMap{set: &nft.Set{Name: name, Map: true, Interval: !exact, Counter: true}}
			for _, d := range dims {
				m.fields = append(m.fields, mapFields[fam][d])
				m.set.Key = append(m.set.Key, mapKeys[fam][d])
			}
			byShape[name] = m
			names = append(names, name)
		}
		accept := nft.Accept
		e := nft.Element{Verdict: &accept, Owner: rules[b.owner].info.Counter}
		for i, d := range dimsOf(m.fields, fam) {
			e.Key = append(e.Key, rangeOf(b.s[d], m.set.Key[i]))
		}
		m.set.Elements = append(m.set.Elements, e)
	}
	sort.Strings(names)
	out := make([]verdictMap, 0, len(names))
	for _, n := range names {
		out = append(out, *byShape[n])
	}
	return out
}

// dimsOf returns the box dimensions of a map's fields.
func dimsOf(fields []nft.Field, fam int) []int {
	out := make([]int, len(fields))
	for i, f := range fields {
		for d, g := range mapFields[fam] {
			if g == f {
				out[i] = d
			}
		}
	}
	return out
}
