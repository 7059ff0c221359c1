package nft

import (
	"bytes"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// KeyType is the type of one field of a set key.
type KeyType int

// The key types the model knows.
const (
	IPv4Addr KeyType = iota
	IPv6Addr
	InetProto
	InetService
)

// Len is the length of a value of the type in bytes.
func (k KeyType) Len() int {
	switch k {
	case IPv4Addr:
		return 4
	case IPv6Addr:
		return 16
	case InetProto:
		return 1
	default:
		return 2
	}
}

func (k KeyType) String() string {
	return [...]string{"ipv4_addr", "ipv6_addr", "inet_proto", "inet_service"}[k]
}

// Range is an inclusive range of values of one key field, big-endian bytes of
// the field's length. Lo == Hi is a single value.
type Range struct{ Lo, Hi []byte }

// Element is a set or map element: one Range per key field and, in a verdict
// map, the verdict.
type Element struct {
	Key     []Range
	Verdict *Verdict
	// Timeout, in a set with Timeout, removes the element after this long.
	Timeout time.Duration
	// Owner names the rule the element belongs to, in a set with Counter:
	// the rule's count is the sum of its elements' counters. It stays in
	// the model (and the applier's memory), not in the kernel.
	Owner string
}

// Set is a named set or, with Map, a verdict map.
type Set struct {
	Name     string
	Key      []KeyType
	Map      bool // verdict map
	Interval bool
	// Timeout sets hold elements that expire; they are filled at run time
	// (FQDN sets): applying a table adds the model's elements but never
	// removes elements the kernel has.
	Timeout bool
	// Counter gives every element a counter (the set's "counter" flag).
	Counter  bool
	Comment  string
	Elements []Element
}

// Chain is a chain; a base chain has a Hook.
type Chain struct {
	Name  string
	Hook  *Hook
	Rules []Rule
}

// Hook makes a chain a base chain.
type Hook struct {
	Type     string // filter, nat
	Hook     string // forward, postrouting, input, ...
	Priority int
	Policy   string // accept, drop
}

// Rule is a list of statements; the last is usually a verdict.
type Rule struct {
	Stmts   []Stmt
	Comment string
}

// Table is one nftables table of family inet.
type Table struct {
	Name     string
	Counters []string
	Sets     []*Set
	Chains   []*Chain
}

// Chain returns the chain called name, or nil.
func (t *Table) Chain(name string) *Chain {
	for _, c := range t.Chains {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Set returns the set called name, or nil.
func (t *Table) Set(name string) *Set {
	for _, s := range t.Sets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Sort orders counters and set elements so that rendering and diffs are
// deterministic. Chains and rules keep their order: it is meaningful.
func (t *Table) Sort() {
	sort.Strings(t.Counters)
	for _, s := range t.Sets {
		less := func(i, j int) bool { return compareKeys(s.Elements[i].Key, s.Elements[j].Key) < 0 }
		if !sort.SliceIsSorted(s.Elements, less) {
			sort.Slice(s.Elements, less)
		}
	}
}

func compareKeys(a, b []Range) int {
	for i := range a {
		if c := bytes.Compare(a[i].Lo, b[i].Lo); c != 0 {
			return c
		}
		if c := bytes.Compare(a[i].Hi, b[i].Hi); c != 0 {
			return c
		}
	}
	return 0
}

// ElementKey is a comparable identity of an element's key.
func ElementKey(e Element) string {
	var b strings.Builder
	for _, r := range e.Key {
		b.Write(r.Lo)
		b.Write(r.Hi)
	}
	return b.String()
}

// Render returns the table as nft text that `nft -f` loads. With replace, the
// text first deletes a table of the same name, so that loading it replaces the
// table atomically.
func (t *Table) Render(replace bool) string {
	var b strings.Builder
	if replace {
		fmt.Fprintf(&b, "add table inet %s\ndelete table inet %s\n", t.Name, t.Name)
	}
	fmt.Fprintf(&b, "table inet %s {\n", t.Name)
	for _, c := range t.Counters {
		fmt.Fprintf(&b, "\tcounter %s {\n\t}\n", c)
	}
	for _, s := range t.Sets {
		kind := "set"
		if s.Map {
			kind = "map"
		}
		types := make([]string, len(s.Key))
		for i, k := range s.Key {
			types[i] = k.String()
		}
		typ := strings.Join(types, " . ")
		if s.Map {
			typ += " : verdict"
		}
		fmt.Fprintf(&b, "\t%s %s {\n\t\ttype %s\n", kind, s.Name, typ)
		var flags []string
		if s.Interval {
			flags = append(flags, "interval")
		}
		if s.Timeout {
			flags = append(flags, "timeout")
		}
		if len(flags) > 0 {
			fmt.Fprintf(&b, "\t\tflags %s\n", strings.Join(flags, ","))
		}
		if s.Counter {
			b.WriteString("\t\tcounter\n")
		}
		if s.Comment != "" {
			fmt.Fprintf(&b, "\t\tcomment %q\n", s.Comment)
		}
		if len(s.Elements) > 0 {
			b.WriteString("\t\telements = {")
			for i, e := range s.Elements {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString("\n\t\t\t")
				b.WriteString(renderElement(s, e))
			}
			b.WriteString(" }\n")
		}
		b.WriteString("\t}\n")
	}
	for _, c := range t.Chains {
		fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
		if h := c.Hook; h != nil {
			fmt.Fprintf(&b, "\t\ttype %s hook %s priority %d; policy %s;\n", h.Type, h.Hook, h.Priority, h.Policy)
		}
		for _, r := range c.Rules {
			fmt.Fprintf(&b, "\t\t%s\n", r.String())
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func (r Rule) String() string {
	parts := make([]string, 0, len(r.Stmts)+1)
	for _, s := range r.Stmts {
		parts = append(parts, s.String())
	}
	if r.Comment != "" {
		parts = append(parts, fmt.Sprintf("comment %q", r.Comment))
	}
	return strings.Join(parts, " ")
}

func renderElement(s *Set, e Element) string {
	fields := make([]string, len(e.Key))
	for i, r := range e.Key {
		fields[i] = renderRange(s.Key[i], r)
	}
	out := strings.Join(fields, " . ")
	if e.Timeout > 0 {
		out += " timeout " + strconv.FormatInt(int64(e.Timeout.Round(time.Second)/time.Second), 10) + "s"
	}
	if e.Verdict != nil {
		out += " : " + e.Verdict.String()
	}
	return out
}

func renderRange(k KeyType, r Range) string {
	lo, hi := renderValue(k, r.Lo), renderValue(k, r.Hi)
	if lo == hi {
		return lo
	}
	if k == IPv4Addr || k == IPv6Addr {
		if p, ok := RangeToPrefix(r.Lo, r.Hi); ok {
			return p.String()
		}
	}
	return lo + "-" + hi
}

func renderValue(k KeyType, v []byte) string {
	switch k {
	case IPv4Addr, IPv6Addr:
		a, _ := netip.AddrFromSlice(v)
		return a.String()
	case InetProto:
		switch v[0] {
		case 6:
			return "tcp"
		case 17:
			return "udp"
		}
		return strconv.Itoa(int(v[0]))
	default:
		return strconv.Itoa(int(v[0])<<8 | int(v[1]))
	}
}

// RangeToPrefix returns the prefix covering exactly [lo, hi], if there is one.
func RangeToPrefix(lo, hi []byte) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(lo)
	if !ok {
		return netip.Prefix{}, false
	}
	bits := len(lo) * 8
	// the number of trailing bits in which lo is all 0 and hi all 1
	n := 0
	for i := len(lo) - 1; i >= 0; i-- {
		x, y := lo[i], hi[i]
		if x == 0 && y == 0xff {
			n += 8
			continue
		}
		for j := 0; j < 8 && x&(1<<j) == 0 && y&(1<<j) != 0; j++ {
			n++
		}
		break
	}
	p := netip.PrefixFrom(a, bits-n)
	if p.Masked().Addr() != a {
		return netip.Prefix{}, false
	}
	// the rest must be equal
	for i := 0; i < len(lo); i++ {
		keep := bits - n - i*8
		if keep <= 0 {
			break
		}
		mask := byte(0xff)
		if keep < 8 {
			mask = byte(0xff << (8 - keep))
		}
		if lo[i]&mask != hi[i]&mask {
			return netip.Prefix{}, false
		}
	}
	return p, true
}
