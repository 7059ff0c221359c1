package nft

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
)

// Packet is what Evaluate traces through a table: the first packet of a
// connection unless CtState says otherwise.
type Packet struct {
	// Hook is the base chain's hook the packet meets: forward (default) or input.
	Hook string
	// IIf and OIf are the input and output interface names.
	IIf, OIf string
	// Proto is the layer-4 protocol number (6 TCP, 17 UDP, 1 ICMP, ...).
	Proto uint8
	// Saddr and Daddr are the addresses, both of one family.
	Saddr, Daddr netip.Addr
	// Dport is the transport destination port (TCP, UDP).
	Dport uint16
	// CtState is the conntrack state: new (default), established, related or invalid.
	CtState string
}

// Trace is the outcome of Evaluate.
type Trace struct {
	// Verdict is accept or drop.
	Verdict string
	// Chains are the chains the packet went through, in order.
	Chains []string
	// Rule is the rule that decided, "<chain>[<index>]", or "" when the base
	// chain's policy did.
	Rule string
	// Owner is the owner of the verdict-map element that decided (the
	// policy or Service rule whose counter counts the packet), if any.
	Owner string
	// Counters are the named counters the packet was counted in.
	Counters []string
}

// Evaluate traces p through the table's filter base chain of p's hook the
// way the kernel would, in plain Go: the ruleset's semantics can be tested
// without root, like kube-proxy's nftables tests trace packets. Rate limits
// are taken as not exceeded; logging and NAT statements do not change the
// verdict. A table without a base chain for the hook accepts.
func (t *Table) Evaluate(p Packet) (Trace, error) {
	if p.Hook == "" {
		p.Hook = "forward"
	}
	if p.CtState == "" {
		p.CtState = "new"
	}
	if p.Saddr.Is4() != p.Daddr.Is4() {
		return Trace{}, fmt.Errorf("packet addresses %s and %s are of different families", p.Saddr, p.Daddr)
	}
	for _, c := range t.Chains {
		if c.Hook == nil || c.Hook.Hook != p.Hook || c.Hook.Type != "filter" {
			continue
		}
		e := &evaluator{t: t, p: p}
		v, decided, err := e.chain(c, 0)
		if err != nil {
			return Trace{}, err
		}
		if !decided {
			v = c.Hook.Policy
		}
		e.tr.Verdict = v
		return e.tr, nil
	}
	return Trace{Verdict: "accept"}, nil
}

type evaluator struct {
	t  *Table
	p  Packet
	tr Trace
}

// maxDepth bounds jumps (the kernel's limit is 16).
const maxDepth = 16

// chain evaluates c; decided is false when the packet falls off its end or
// returns.
func (e *evaluator) chain(c *Chain, depth int) (verdict string, decided bool, err error) {
	if depth > maxDepth {
		return "", false, fmt.Errorf("chain %s: jumps nest deeper than %d", c.Name, maxDepth)
	}
	e.tr.Chains = append(e.tr.Chains, c.Name)
	for i, r := range c.Rules {
		v, decided, err := e.rule(r, depth)
		if err != nil {
			return "", false, fmt.Errorf("%s[%d]: %w", c.Name, i, err)
		}
		switch {
		case v == "next":
			continue
		case v == "return":
			return "", false, nil
		case decided:
			if e.tr.Rule == "" {
				e.tr.Rule = fmt.Sprintf("%s[%d]", c.Name, i)
			}
			return v, true, nil
		}
	}
	return "", false, nil
}

// rule evaluates one rule: "next" when a statement does not match (or a
// jumped-to chain fell through), a final verdict with decided, or "return".
func (e *evaluator) rule(r Rule, depth int) (string, bool, error) {
	var counters []string
	for _, s := range r.Stmts {
		switch s := s.(type) {
		case CtState:
			if !slices.Contains(s.States, e.p.CtState) {
				return "next", false, nil
			}
		case IfName:
			name := e.p.IIf
			if s.Out {
				name = e.p.OIf
			}
			if name != s.Name {
				return "next", false, nil
			}
		case Lookup:
			set := e.t.Set(s.Set)
			if set == nil {
				return "", false, fmt.Errorf("unknown set %q", s.Set)
			}
			if _, ok := e.lookup(set, s.Fields); ok == s.Negate {
				return "next", false, nil
			}
		case VMap:
			set := e.t.Set(s.Map)
			if set == nil {
				return "", false, fmt.Errorf("unknown map %q", s.Map)
			}
			el, ok := e.lookup(set, s.Fields)
			if !ok {
				return "next", false, nil
			}
			if el.Verdict == nil {
				return "", false, fmt.Errorf("map %q: element without a verdict", s.Map)
			}
			e.tr.Owner = el.Owner
			e.tr.Counters = append(e.tr.Counters, counters...)
			return e.verdict(*el.Verdict, depth)
		case Counter:
			counters = append(counters, s.Name)
		case LimitOver:
			return "next", false, nil // not exceeded
		case Log, SNAT, Masquerade:
		case Verdict:
			e.tr.Counters = append(e.tr.Counters, counters...)
			return e.verdict(s, depth)
		case *Verdict:
			e.tr.Counters = append(e.tr.Counters, counters...)
			return e.verdict(*s, depth)
		default:
			return "", false, fmt.Errorf("statement %q: not known to the evaluator", s.String())
		}
	}
	e.tr.Counters = append(e.tr.Counters, counters...)
	return "next", false, nil
}

func (e *evaluator) verdict(v Verdict, depth int) (string, bool, error) {
	switch v.Kind {
	case "accept", "drop":
		return v.Kind, true, nil
	case "return":
		return "return", false, nil
	case "jump", "goto":
		c := e.t.Chain(v.Chain)
		if c == nil {
			return "", false, fmt.Errorf("%s to unknown chain %q", v.Kind, v.Chain)
		}
		res, decided, err := e.chain(c, depth+1)
		if err != nil || decided {
			return res, decided, err
		}
		if v.Kind == "goto" {
			return "return", false, nil
		}
		return "next", false, nil
	}
	return "", false, fmt.Errorf("verdict %q: not known to the evaluator", v.Kind)
}

// lookup finds the element whose every key range holds the packet's fields.
// A field of the other family (an ip field for an IPv6 packet) never
// matches, as the kernel's implicit family check has it.
func (e *evaluator) lookup(s *Set, fields []Field) (*Element, bool) {
	vals := make([][]byte, len(fields))
	for i, f := range fields {
		v, ok := e.field(f)
		if !ok {
			return nil, false
		}
		vals[i] = v
	}
	for i := range s.Elements {
		el := &s.Elements[i]
		match := true
		for d, r := range el.Key {
			if bytes.Compare(vals[d], r.Lo) < 0 || bytes.Compare(vals[d], r.Hi) > 0 {
				match = false
				break
			}
		}
		if match {
			return el, true
		}
	}
	return nil, false
}

func (e *evaluator) field(f Field) ([]byte, bool) {
	p := e.p
	switch f {
	case IPSaddr, IPDaddr:
		if !p.Saddr.Is4() {
			return nil, false
		}
		if f == IPSaddr {
			return p.Saddr.AsSlice(), true
		}
		return p.Daddr.AsSlice(), true
	case IP6Saddr, IP6Daddr:
		if p.Saddr.Is4() {
			return nil, false
		}
		if f == IP6Saddr {
			return p.Saddr.AsSlice(), true
		}
		return p.Daddr.AsSlice(), true
	case L4Proto:
		return []byte{p.Proto}, true
	default:
		return []byte{byte(p.Dport >> 8), byte(p.Dport)}, true
	}
}
