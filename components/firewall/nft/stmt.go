package nft

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Stmt is one statement of a rule: it renders as nft text and translates to
// the kernel's expressions.
type Stmt interface {
	String() string
	exprs(sets setResolver) []expr.Any
}

// setResolver returns the google/nftables set for a set name of the table.
type setResolver func(name string) *nftables.Set

// Field is a packet field used as (part of) a set key.
type Field int

// The fields the model knows.
const (
	IPSaddr Field = iota
	IPDaddr
	IP6Saddr
	IP6Daddr
	L4Proto
	THDport
)

func (f Field) String() string {
	return [...]string{"ip saddr", "ip daddr", "ip6 saddr", "ip6 daddr", "meta l4proto", "th dport"}[f]
}

func (f Field) keyType() KeyType {
	return [...]KeyType{IPv4Addr, IPv4Addr, IPv6Addr, IPv6Addr, InetProto, InetService}[f]
}

// load returns the expressions that load the field into reg.
func (f Field) load(reg uint32) expr.Any {
	switch f {
	case IPSaddr:
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}
	case IPDaddr:
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}
	case IP6Saddr:
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 16}
	case IP6Daddr:
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 24, Len: 16}
	case L4Proto:
		return &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}
	default:
		return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
	}
}

// nfproto returns the family a field depends on (0 for none).
func (f Field) nfproto() byte {
	switch f {
	case IPSaddr, IPDaddr:
		return unix.NFPROTO_IPV4
	case IP6Saddr, IP6Daddr:
		return unix.NFPROTO_IPV6
	}
	return 0
}

// loadFields loads fields into consecutive 32-bit registers starting at
// NFT_REG32_00 (or into NFT_REG_1 for a single field), preceded by the family
// check nft adds implicitly to ip/ip6 matches in an inet table.
func loadFields(fields []Field) ([]expr.Any, uint32) {
	var out []expr.Any
	var proto byte
	for _, f := range fields {
		if p := f.nfproto(); p != 0 {
			proto = p
		}
	}
	if proto != 0 {
		out = append(out,
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}})
	}
	if len(fields) == 1 {
		return append(out, fields[0].load(1)), 1
	}
	reg := uint32(unix.NFT_REG32_00)
	for _, f := range fields {
		out = append(out, f.load(reg))
		reg += uint32((f.keyType().Len() + 3) / 4)
	}
	return out, unix.NFT_REG32_00
}

func joinFields(fields []Field) string {
	s := make([]string, len(fields))
	for i, f := range fields {
		s[i] = f.String()
	}
	return strings.Join(s, " . ")
}

// Lookup matches when the fields are (Negate: are not) in a named set.
type Lookup struct {
	Fields []Field
	Set    string
	Negate bool
}

func (l Lookup) String() string {
	op := ""
	if l.Negate {
		op = "!= "
	}
	return fmt.Sprintf("%s %s@%s", joinFields(l.Fields), op, l.Set)
}

func (l Lookup) exprs(sets setResolver) []expr.Any {
	out, reg := loadFields(l.Fields)
	s := sets(l.Set)
	return append(out, &expr.Lookup{SourceRegister: reg, SetName: s.Name, SetID: s.ID, Invert: l.Negate})
}

// VMap looks the fields up in a verdict map and applies the verdict found.
type VMap struct {
	Fields []Field
	Map    string
}

func (v VMap) String() string { return fmt.Sprintf("%s vmap @%s", joinFields(v.Fields), v.Map) }

func (v VMap) exprs(sets setResolver) []expr.Any {
	out, reg := loadFields(v.Fields)
	s := sets(v.Map)
	return append(out, &expr.Lookup{SourceRegister: reg, DestRegister: 0, IsDestRegSet: true, SetName: s.Name, SetID: s.ID})
}

// IfName matches the input (or, with Out, output) interface name.
type IfName struct {
	Out  bool
	Name string
}

func (i IfName) String() string {
	if i.Out {
		return fmt.Sprintf("oifname %q", i.Name)
	}
	return fmt.Sprintf("iifname %q", i.Name)
}

func (i IfName) exprs(setResolver) []expr.Any {
	key := expr.MetaKeyIIFNAME
	if i.Out {
		key = expr.MetaKeyOIFNAME
	}
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, i.Name)
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name}}
}

// CtState matches any of the conntrack states (established, related, new, invalid).
type CtState struct{ States []string }

var ctStateBits = map[string]uint32{"invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64}

func (c CtState) String() string { return "ct state " + strings.Join(c.States, ",") }

func (c CtState) exprs(setResolver) []expr.Any {
	var mask uint32
	for _, s := range c.States {
		mask |= ctStateBits[s]
	}
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: nativeUint32(mask), Xor: nativeUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: nativeUint32(0)},
	}
}

func nativeUint32(v uint32) []byte {
	b := make([]byte, 4)
	// ct state is host byte order; every platform we run on is little-endian
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	return b
}

// Counter counts into a named counter object of the table.
type Counter struct{ Name string }

func (c Counter) String() string { return fmt.Sprintf("counter name %q", c.Name) }

func (c Counter) exprs(setResolver) []expr.Any {
	return []expr.Any{&expr.Objref{Type: int(nftables.ObjTypeCounter), Name: c.Name}}
}

// LimitOver matches when the traffic exceeds BytesPerSecond.
type LimitOver struct{ BytesPerSecond uint64 }

func (l LimitOver) String() string {
	return fmt.Sprintf("limit rate over %d bytes/second", l.BytesPerSecond)
}

func (l LimitOver) exprs(setResolver) []expr.Any {
	return []expr.Any{&expr.Limit{Type: expr.LimitTypePktBytes, Rate: l.BytesPerSecond, Over: true, Unit: expr.LimitTimeSecond}}
}

// Log sends the packet to nflog group Group with a prefix.
type Log struct {
	Prefix string
	Group  uint16
}

func (l Log) String() string { return fmt.Sprintf("log prefix %q group %d", l.Prefix, l.Group) }

func (l Log) exprs(setResolver) []expr.Any {
	return []expr.Any{&expr.Log{Key: 1<<unix.NFTA_LOG_PREFIX | 1<<unix.NFTA_LOG_GROUP, Group: l.Group, Data: []byte(l.Prefix)}}
}

// SNAT rewrites the source address to Addr (of the packet's family).
type SNAT struct{ Addr netip.Addr }

func (s SNAT) String() string {
	if s.Addr.Is4() {
		return "snat ip to " + s.Addr.String()
	}
	return "snat ip6 to " + s.Addr.String()
}

func (s SNAT) exprs(setResolver) []expr.Any {
	fam := uint32(unix.NFPROTO_IPV4)
	if !s.Addr.Is4() {
		fam = unix.NFPROTO_IPV6
	}
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: s.Addr.AsSlice()},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: fam, RegAddrMin: 1, RegAddrMax: 1},
	}
}

// Masquerade rewrites the source address to the output interface's address.
type Masquerade struct{}

func (Masquerade) String() string { return "masquerade" }

func (Masquerade) exprs(setResolver) []expr.Any { return []expr.Any{&expr.Masq{}} }

// Verdict ends rule evaluation: accept, drop, return, or jump/goto Chain.
type Verdict struct {
	Kind  string
	Chain string
}

// The verdicts.
var (
	Accept = Verdict{Kind: "accept"}
	Drop   = Verdict{Kind: "drop"}
)

// Goto returns a goto verdict to chain.
func Goto(chain string) *Verdict { return &Verdict{Kind: "goto", Chain: chain} }

// Jump returns a jump verdict to chain.
func Jump(chain string) Verdict { return Verdict{Kind: "jump", Chain: chain} }

func (v Verdict) String() string {
	if v.Chain != "" {
		return v.Kind + " " + v.Chain
	}
	return v.Kind
}

func (v Verdict) expr() *expr.Verdict {
	kinds := map[string]expr.VerdictKind{"accept": expr.VerdictAccept, "drop": expr.VerdictDrop,
		"return": expr.VerdictReturn, "jump": expr.VerdictJump, "goto": expr.VerdictGoto}
	return &expr.Verdict{Kind: kinds[v.Kind], Chain: v.Chain}
}

func (v Verdict) exprs(setResolver) []expr.Any { return []expr.Any{v.expr()} }
