package compile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"

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

// verdictMap is one map and the fields a rule looks up in it. A map of a
// port group also has ports: the rule matches the port set first.
type verdictMap struct {
	set    *nft.Set
	fields []nft.Field
	ports  *nft.Set
}

// Port groups. Policies typically repeat one list of ports for many
// sources ("from this /32 to TCP 80, 443 and 8000-8080"): as boxes, every
// source appears once per port range, and the kernel's cost is per element
// (about 3 us each with a counter). Where many rows — the boxes of one owner
// with the same addresses — have the same port set, that port set becomes a
// set of its own and the rows a verdict map of addresses only, looked up by
// one rule behind the port-set match: one element per row instead of one per
// row and port range. Each row still belongs to one rule, so its element's
// counter is that rule's. The rows stay disjoint (the boxes were), so a
// packet still matches at most one element of all maps. Every group is one
// more rule a new connection passes, so only large groups qualify and their
// number per chain and family is capped.
const (
	// minGroupRows is the fewest rows that make a port group.
	minGroupRows = 16
	// maxPortGroups caps the port groups per chain and family (the ones
	// saving the most elements win).
	maxPortGroups = 8
)

// row is the boxes of one owner sharing source and destination.
type row struct {
	addr  [2]span // source, destination
	owner int
	ports []span // protocol, port pairs, in box order
	boxes []box
}

// portGroup is the rows sharing one port set.
type portGroup struct {
	key  string
	rows []*row
}

// portGroups picks the port groups among boxes and returns them with the
// boxes left over.
func portGroups(boxes []box) ([]portGroup, []box) {
	rows := map[[2]span]map[int]*row{}
	var order []*row
	for _, b := range boxes {
		k := [2]span{b.s[dimSaddr], b.s[dimDaddr]}
		if rows[k] == nil {
			rows[k] = map[int]*row{}
		}
		r := rows[k][b.owner]
		if r == nil {
			r = &row{addr: k, owner: b.owner}
			rows[k][b.owner] = r
			order = append(order, r)
		}
		r.ports = append(r.ports, b.s[dimProto], b.s[dimPort])
		r.boxes = append(r.boxes, b)
	}
	byKey := map[string]*portGroup{}
	var groups []*portGroup
	for _, r := range order {
		// only rows whose every box restricts the port (a whole port range
		// is left out of a key, which the port set cannot do) and that
		// have more than one port range save anything
		if len(r.boxes) < 2 || slices.ContainsFunc(r.boxes, func(b box) bool { return b.s[dimPort] == anyPt }) {
			continue
		}
		k := portKey(r.ports)
		g := byKey[k]
		if g == nil {
			g = &portGroup{key: k}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.rows = append(g.rows, r)
	}
	saved := func(g *portGroup) int { return len(g.rows)*(len(g.rows[0].boxes)-1) - len(g.rows[0].boxes) }
	groups = slices.DeleteFunc(groups, func(g *portGroup) bool { return len(g.rows) < minGroupRows })
	sort.SliceStable(groups, func(i, j int) bool {
		if si, sj := saved(groups[i]), saved(groups[j]); si != sj {
			return si > sj
		}
		return groups[i].key < groups[j].key
	})
	if len(groups) > maxPortGroups {
		groups = groups[:maxPortGroups]
	}
	grouped := map[*row]bool{}
	out := make([]portGroup, 0, len(groups))
	for _, g := range groups {
		for _, r := range g.rows {
			grouped[r] = true
		}
		out = append(out, *g)
	}
	var rest []box
	for _, r := range order {
		if !grouped[r] {
			rest = append(rest, r.boxes...)
		}
	}
	return out, rest
}

// portKey is the canonical text of a row's (protocol, port) pairs.
func portKey(ports []span) string {
	type pair struct{ p, t span }
	pairs := make([]pair, 0, len(ports)/2)
	for i := 0; i < len(ports); i += 2 {
		pairs = append(pairs, pair{ports[i], ports[i+1]})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].p != pairs[j].p {
			return pairs[i].p.lo.less(pairs[j].p.lo)
		}
		return pairs[i].t.lo.less(pairs[j].t.lo)
	})
	var b strings.Builder
	for _, p := range pairs {
		fmt.Fprintf(&b, "%d-%d.%d-%d,", p.p.lo.lo, p.p.hi.lo, p.t.lo.lo, p.t.hi.lo)
	}
	return b.String()
}

// verdictMaps groups the disjoint boxes of one chain and family by shape.
// The maps are named <chain><family>-<fields>, e.g. ingress4-stp (source,
// port, protocol). Elements that are single values in every field go to a
// map of their own, <name>-exact: the kernel keeps it as a hash table, where
// adding an element costs the same however many there are, while an
// interval concatenation (pipapo) grows its lookup tables with every element
// and loading n elements costs about n^2. A port group's maps are named
// <chain><family>-<address fields>-<16 hex digits of SHA-256 of the port
// set>, its port set <chain><family>-pt-<the same digits>.
func verdictMaps(chain string, fam int, boxes []box, rules []rule) []verdictMap {
	whole := [4]span{anyL4, anyPt, full4, full4}
	if fam == 1 {
		whole[dimSaddr], whole[dimDaddr] = full6, full6
	}
	byShape := map[string]*verdictMap{}
	var names []string
	// add puts box b's spans in dims dims into the map called prefix +
	// the dims' letters (+ -exact), creating it.
	add := func(prefix string, b box, dims []int, ports *nft.Set) {
		name := prefix
		exact := true
		for _, d := range dims {
			name += dimLetter[d]
			exact = exact && b.s[d].lo == b.s[d].hi
		}
		if ports != nil {
			name += strings.TrimPrefix(ports.Name, chain+famSuffix[fam]+"-pt")
		}
		if exact {
			name += "-exact"
		}
		m := byShape[name]
		if m == nil {
			m = &verdictMap{set: &nft.Set{Name: name, Map: true, Interval: !exact, Counter: true}, ports: ports}
			for _, d := range dims {
				m.fields = append(m.fields, mapFields[fam][d])
				m.set.Key = append(m.set.Key, mapKeys[fam][d])
			}
			byShape[name] = m
			names = append(names, name)
		}
		accept := nft.Accept
		e := nft.Element{Verdict: &accept, Owner: rules[b.owner].info.Counter}
		for i, d := range dims {
			e.Key = append(e.Key, rangeOf(b.s[d], m.set.Key[i]))
		}
		m.set.Elements = append(m.set.Elements, e)
	}
	// keyDims are the fields of b's key in dimOrder: those it restricts.
	// An address field stays when both are whole: it is what limits the
	// lookup to the map's family.
	first := dimOrder[chain][0]
	keyDims := func(b box, only func(int) bool) []int {
		var dims []int
		for _, d := range dimOrder[chain] {
			if only(d) && (b.s[d] != whole[d] || d == first && b.s[dimSaddr] == whole[dimSaddr] && b.s[dimDaddr] == whole[dimDaddr]) {
				dims = append(dims, d)
			}
		}
		return dims
	}
	groups, rest := portGroups(boxes)
	for _, g := range groups {
		sum := sha256.Sum256([]byte(g.key))
		ports := &nft.Set{Name: chain + famSuffix[fam] + "-pt-" + hex.EncodeToString(sum[:8]), Key: []nft.KeyType{nft.InetProto, nft.InetService}}
		for _, b := range g.rows[0].boxes {
			ports.Interval = ports.Interval || b.s[dimProto].lo != b.s[dimProto].hi || b.s[dimPort].lo != b.s[dimPort].hi
			ports.Elements = append(ports.Elements, nft.Element{Key: []nft.Range{rangeOf(b.s[dimProto], nft.InetProto), rangeOf(b.s[dimPort], nft.InetService)}})
		}
		for _, r := range g.rows {
			b := r.boxes[0]
			add(chain+famSuffix[fam]+"-", b, keyDims(b, func(d int) bool { return d == dimSaddr || d == dimDaddr }), ports)
		}
	}
	for _, b := range rest {
		add(chain+famSuffix[fam]+"-", b, keyDims(b, func(int) bool { return true }), nil)
	}
	sort.Strings(names)
	out := make([]verdictMap, 0, len(names))
	for _, n := range names {
		out = append(out, *byShape[n])
	}
	return out
}
