package compile_test

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	. "github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/internal/fixture"
	"github.com/metalkube/metalkube/components/firewall/nft"
)

// FuzzCompile adds one fuzzed policy (its spec as JSON) to the fixture's and
// compiles. It must not panic. A refused policy is reported with a message
// and leaves the ruleset exactly as without it; an accepted one renders, and
// since policies only allow, a packet the ruleset accepted without it is
// still accepted (checked for one fuzzed packet in each direction).
func FuzzCompile(f *testing.F) {
	f.Add([]byte(`{"ingress":[{"from":[{"cidr":"198.51.100.0/24","except":["198.51.100.7/32"]}],"ports":[{"protocol":"TCP","port":443}]}]}`), false, uint32(0xc6336407), uint16(443), uint8(6))
	f.Add([]byte(`{"egress":[{"to":[{"cidr":"0.0.0.0/0"}],"ports":[{"protocol":"UDP","port":53,"endPort":60}]}]}`), true, uint32(0x0a320005), uint16(53), uint8(17))
	f.Add([]byte(`{"egress":[{"toFQDNs":[{"matchPattern":"*.example.com"}]}]}`), false, uint32(0), uint16(0), uint8(1))
	f.Add([]byte(`{"ingress":[{"from":[{"cidr":"2001:db8::/33"}],"ports":[{"port":"http"}]}]}`), false, uint32(1), uint16(80), uint8(6))
	base := fixture.Input()
	cfg := fixture.Config()
	want := Compile(cfg, base).Table
	wantText := want.Render(false)
	f.Fuzz(func(t *testing.T, spec []byte, metalStack bool, addr uint32, port uint16, proto uint8) {
		var ps v1alpha1.PolicySpec
		if err := json.Unmarshal(spec, &ps); err != nil {
			return
		}
		in := base
		in.Policies = append(append([]Policy(nil), base.Policies...), Policy{Name: "fuzz/p", Spec: ps, MetalStack: metalStack})
		res := Compile(cfg, in)
		pr := res.Policies["fuzz/p"]
		got := res.Table.Render(false)
		if pr.Ignored {
			if pr.Message == "" {
				t.Fatal("policy ignored without a message")
			}
			if got != wantText {
				t.Fatalf("ignored policy (%s) changed the ruleset", pr.Message)
			}
			return
		}
		if got == "" {
			t.Fatal("accepted policy rendered an empty ruleset")
		}
		outside := netip.AddrFrom4([4]byte{byte(addr >> 24), byte(addr >> 16), byte(addr >> 8), byte(addr)})
		node := netip.MustParseAddr("10.50.0.10")
		for _, p := range []nft.Packet{
			{IIf: "ext0", OIf: "int0", Proto: proto, Saddr: outside, Daddr: node, Dport: port},
			{IIf: "int0", OIf: "ext0", Proto: proto, Saddr: node, Daddr: outside, Dport: port},
		} {
			before, err := want.Evaluate(p)
			if err != nil {
				t.Fatalf("evaluate %+v without the policy: %v", p, err)
			}
			after, err := res.Table.Evaluate(p)
			if err != nil {
				t.Fatalf("evaluate %+v with the policy: %v", p, err)
			}
			if before.Verdict == "accept" && after.Verdict != "accept" {
				t.Fatalf("adding an allow policy dropped %+v (accepted before by %s, now %s by %s)", p, before.Owner, after.Verdict, after.Rule)
			}
		}
	})
}
