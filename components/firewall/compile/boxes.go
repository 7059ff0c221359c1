package compile

import (
	"encoding/binary"
	"slices"
	"sort"
)

// A verdict map cannot hold overlapping keys, but policies overlap freely.
// The compiler therefore cuts the key space into disjoint boxes: every point
// of the space covered by some rule belongs to exactly one output box, owned
// by the first rule (lowest index) covering it — the rule an ordered rule
// list would have matched first, so that per-rule counters count the same.
// The kernel then finds the verdict with one lookup, whatever the number of
// rules.

// u128 is a coordinate: an IPv4 or IPv6 address, a protocol or a port.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

func (a u128) inc() (u128, bool) {
	lo := a.lo + 1
	hi := a.hi
	if lo == 0 {
		hi++
		if hi == 0 {
			return u128{}, false
		}
	}
	return u128{hi, lo}, true
}

func (a u128) dec() u128 {
	if a.lo == 0 {
		return u128{a.hi - 1, ^uint64(0)}
	}
	return u128{a.hi, a.lo - 1}
}

func u128From(b []byte) u128 {
	var buf [16]byte
	copy(buf[16-len(b):], b)
	return u128{binary.BigEndian.Uint64(buf[:8]), binary.BigEndian.Uint64(buf[8:])}
}

func (a u128) bytes(n int) []byte {
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], a.hi)
	binary.BigEndian.PutUint64(buf[8:], a.lo)
	return append([]byte(nil), buf[16-n:]...)
}

// span is an inclusive interval of one dimension.
type span struct{ lo, hi u128 }

// box is a product of spans, owned by a rule.
type box struct {
	s     []span
	owner int
}

// disjoint cuts boxes into disjoint boxes, each owned by the lowest-index
// owner covering it, merging neighbours with equal owners along each
// dimension. Worst case (deeply nested rules in every dimension) the output
// grows with the product of rule counts; policies in practice stay close to
// one box per rule.
func disjoint(boxes []box) []box {
	if len(boxes) == 0 {
		return nil
	}
	return split(boxes, 0, len(boxes[0].s))
}

func split(boxes []box, d, dims int) []box {
	if d == dims {
		owner := boxes[0].owner
		for _, b := range boxes[1:] {
			owner = min(owner, b.owner)
		}
		return []box{{owner: owner}}
	}
	// elementary intervals of dimension d
	type event struct {
		at    u128
		start bool
		i     int
	}
	events := make([]event, 0, 2*len(boxes))
	for i, b := range boxes {
		events = append(events, event{b.s[d].lo, true, i})
		if end, ok := b.s[d].hi.inc(); ok {
			events = append(events, event{end, false, i})
		}
	}
	sort.Slice(events, func(i, j int) bool { return events[i].at.less(events[j].at) })
	active := map[int]bool{}
	var out []box
	var prev []box // sub-result of the previous elementary interval
	var prevSpan span
	flush := func() {
		for _, p := range prev {
			out = append(out, box{s: append([]span{prevSpan}, p.s...), owner: p.owner})
		}
		prev = nil
	}
	for k := 0; k < len(events); {
		at := events[k].at
		for ; k < len(events) && events[k].at == at; k++ {
			if events[k].start {
				active[events[k].i] = true
			} else {
				delete(active, events[k].i)
			}
		}
		hi := u128{^uint64(0), ^uint64(0)}
		if k < len(events) {
			hi = events[k].at.dec()
		}
		if len(active) == 0 {
			flush()
			continue
		}
		idx := make([]int, 0, len(active))
		for i := range active {
			idx = append(idx, i)
		}
		slices.Sort(idx)
		sub := make([]box, len(idx))
		for j, i := range idx {
			sub[j] = boxes[i]
		}
		res := split(sub, d+1, dims)
		if prev != nil && prevSpan.hi.inc2() == at && sameBoxes(prev, res) {
			prevSpan.hi = hi
			continue
		}
		flush()
		prev, prevSpan = res, span{at, hi}
		if k == len(events) {
			break
		}
	}
	flush()
	return out
}

func (a u128) inc2() u128 {
	n, _ := a.inc()
	return n
}

func sameBoxes(a, b []box) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].owner != b[i].owner || !slices.Equal(a[i].s, b[i].s) {
			return false
		}
	}
	return true
}
