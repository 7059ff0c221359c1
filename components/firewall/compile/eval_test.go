package compile_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	. "github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/internal/fixture"
	"github.com/metalkube/metalkube/components/firewall/nft"
)

// packet is a test packet: first packet of a connection, forwarded unless hook says otherwise.
type packet struct {
	name        string
	hook        string
	iif         string
	proto       uint8
	src, dst    string
	port        uint16
	ct          string
	wantVerdict string
	wantOwner   string
}

func tracePackets(t *testing.T, tbl *nft.Table, packets []packet) {
	t.Helper()
	for _, p := range packets {
		t.Run(p.name, func(t *testing.T) {
			tr, err := tbl.Evaluate(nft.Packet{Hook: p.hook, IIf: p.iif, Proto: p.proto, Saddr: netip.MustParseAddr(p.src),
				Daddr: netip.MustParseAddr(p.dst), Dport: p.port, CtState: p.ct})
			if err != nil {
				t.Fatal(err)
			}
			if tr.Verdict != p.wantVerdict || tr.Owner != p.wantOwner {
				t.Errorf("verdict %s by %q (rule %s, chains %v), want %s by %q", tr.Verdict, tr.Owner, tr.Rule, tr.Chains, p.wantVerdict, p.wantOwner)
			}
		})
	}
}

const tcp6, udp17 = 6, 17

// TestEvaluate traces the packets of the kernel packet test (test/integration's
// TestPackets) through the compiled representative ruleset in plain Go: the
// policy semantics hold without root, and each accepted packet is counted
// for the rule the kernel counts it for.
func TestEvaluate(t *testing.T) {
	tbl := Compile(fixture.Config(), fixture.Input()).Table
	https, partners, web, dns := "cwnp.firewall.allow-https-in.ingress-0", "cwnp.firewall.partners.ingress-0", "svc.default.web", "svc.default.dns"
	tracePackets(t, tbl, []packet{
		{name: "ingress 443 allowed", iif: "ext0", proto: tcp6, src: "203.0.113.2", dst: "10.50.0.2", port: 443, wantVerdict: "accept", wantOwner: https},
		{name: "ingress 22 denied", iif: "ext0", proto: tcp6, src: "203.0.113.2", dst: "10.50.0.2", port: 22, wantVerdict: "drop"},
		{name: "range start allowed", iif: "ext0", proto: tcp6, src: "203.0.113.3", dst: "10.50.0.2", port: 8000, wantVerdict: "accept", wantOwner: partners},
		{name: "range end allowed", iif: "ext0", proto: tcp6, src: "203.0.113.3", dst: "10.50.0.2", port: 8100, wantVerdict: "accept", wantOwner: partners},
		{name: "past range end denied", iif: "ext0", proto: tcp6, src: "203.0.113.3", dst: "10.50.0.2", port: 8101, wantVerdict: "drop"},
		{name: "except block denied", iif: "ext0", proto: tcp6, src: "203.0.113.2", dst: "10.50.0.2", port: 8050, wantVerdict: "drop"},
		{name: "udp allowed", iif: "ext0", proto: udp17, src: "203.0.113.3", dst: "10.50.0.2", port: 5353, wantVerdict: "accept", wantOwner: partners},
		{name: "udp from except denied", iif: "ext0", proto: udp17, src: "203.0.113.2", dst: "10.50.0.2", port: 5353, wantVerdict: "drop"},
		{name: "tcp on the udp port denied", iif: "ext0", proto: tcp6, src: "203.0.113.3", dst: "10.50.0.2", port: 5353, wantVerdict: "drop"},
		{name: "ipv6 range allowed", iif: "ext0", proto: tcp6, src: "2001:db8::2", dst: "fd00:50::2", port: 8050, wantVerdict: "accept", wantOwner: partners},
		{name: "ipv6 outside block denied", iif: "ext0", proto: tcp6, src: "2001:db9::2", dst: "fd00:50::2", port: 8050, wantVerdict: "drop"},
		{name: "ipv6 443 allowed", iif: "ext0", proto: tcp6, src: "2001:db9::2", dst: "fd00:50::2", port: 443, wantVerdict: "accept", wantOwner: https},
		{name: "loadbalancer from source range allowed", iif: "ext0", proto: tcp6, src: "198.51.100.7", dst: "10.50.1.10", port: 8080, wantVerdict: "accept", wantOwner: web},
		{name: "loadbalancer from elsewhere denied", iif: "ext0", proto: tcp6, src: "203.0.113.2", dst: "10.50.1.10", port: 8080, wantVerdict: "drop"},
		{name: "nodeport allowed", iif: "ext0", proto: udp17, src: "203.0.113.2", dst: "10.50.0.2", port: 30053, wantVerdict: "accept", wantOwner: dns},
		{name: "egress 80 allowed", iif: "int0", proto: tcp6, src: "10.50.0.2", dst: "203.0.113.2", port: 80, wantVerdict: "accept", wantOwner: "cwnp.firewall.egress.egress-0"},
		{name: "egress 22 denied", iif: "int0", proto: tcp6, src: "10.50.0.2", dst: "203.0.113.2", port: 22, wantVerdict: "drop"},
		{name: "egress to the except block denied", iif: "int0", proto: tcp6, src: "10.50.0.2", dst: "192.168.1.1", port: 80, wantVerdict: "drop"},
		{name: "egress from outside the cluster denied", iif: "int0", proto: tcp6, src: "10.99.0.2", dst: "203.0.113.2", port: 80, wantVerdict: "drop"},
		{name: "egress ipv6 to block allowed", iif: "int0", proto: tcp6, src: "fd00:50::2", dst: "2001:db8:1::2", port: 22, wantVerdict: "accept", wantOwner: "cwnp.firewall.egress.egress-1"},
		{name: "egress ipv6 outside block denied", iif: "int0", proto: tcp6, src: "fd00:50::2", dst: "2001:db8::2", port: 22, wantVerdict: "drop"},
		{name: "established accepted", iif: "ext0", proto: tcp6, src: "203.0.113.2", dst: "10.50.0.2", port: 22, ct: "established", wantVerdict: "accept"},
		{name: "invalid dropped", iif: "int0", proto: tcp6, src: "10.50.0.2", dst: "203.0.113.2", port: 80, ct: "invalid", wantVerdict: "drop"},
		{name: "unknown interface dropped", iif: "mgmt0", proto: tcp6, src: "203.0.113.2", dst: "10.50.0.2", port: 443, wantVerdict: "drop"},
	})
}

// TestEvaluateOverlap: where rules overlap the first (by policy name) owns
// the packet, as an ordered rule list would count it.
func TestEvaluateOverlap(t *testing.T) {
	tbl := Compile(fixture.Config(), Input{Policies: []Policy{
		{Name: "a/wide", Spec: v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{From: []networkingv1.IPBlock{block("198.51.100.0/24")}}}}},
		{Name: "b/narrow", Spec: v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{From: []networkingv1.IPBlock{block("198.51.100.128/25"), block("192.0.2.0/24")},
			Ports: []networkingv1.NetworkPolicyPort{tcp(22)}}}}},
	}}).Table
	tracePackets(t, tbl, []packet{
		{name: "both match: the first owns it", iif: "ext0", proto: tcp6, src: "198.51.100.200", dst: "10.50.0.2", port: 22, wantVerdict: "accept", wantOwner: "cwnp.a.wide.ingress-0"},
		{name: "only the second matches", iif: "ext0", proto: tcp6, src: "192.0.2.1", dst: "10.50.0.2", port: 22, wantVerdict: "accept", wantOwner: "cwnp.b.narrow.ingress-0"},
		{name: "wide allows any port", iif: "ext0", proto: udp17, src: "198.51.100.1", dst: "10.50.0.2", port: 9, wantVerdict: "accept", wantOwner: "cwnp.a.wide.ingress-0"},
		{name: "narrow only port 22", iif: "ext0", proto: tcp6, src: "192.0.2.1", dst: "10.50.0.2", port: 23, wantVerdict: "drop"},
	})
}

// TestEvaluatePortGroups: where many sources share a port set, the port
// set and the sources become maps of their own (port groups); the policy
// semantics and the owner of each accepted packet stay those of the rules.
func TestEvaluatePortGroups(t *testing.T) {
	tbl := Compile(fixture.Config(), fixture.PortGroups()).Table
	groups := 0
	for _, s := range tbl.Sets {
		if strings.Contains(s.Name, "-pt-") {
			groups++
		}
	}
	if groups != 5 { // ingress: two port sets per family; egress: one
		t.Errorf("%d port sets, want 5", groups)
	}
	first, in := "cwnp.a.https-first16.ingress-0", func(i int) string { return fmt.Sprintf("cwnp.grp.in%02d.ingress-0", i) }
	tracePackets(t, tbl, []packet{
		{name: "grouped source, 80", iif: "ext0", proto: tcp6, src: "100.64.0.20", dst: "10.50.0.2", port: 80, wantVerdict: "accept", wantOwner: in(20)},
		{name: "grouped source, 443", iif: "ext0", proto: tcp6, src: "100.64.0.39", dst: "10.50.0.2", port: 443, wantVerdict: "accept", wantOwner: in(39)},
		{name: "grouped source, range end", iif: "ext0", proto: tcp6, src: "100.64.0.16", dst: "10.50.0.2", port: 8080, wantVerdict: "accept", wantOwner: in(16)},
		{name: "grouped source, past range end", iif: "ext0", proto: tcp6, src: "100.64.0.16", dst: "10.50.0.2", port: 8081, wantVerdict: "drop"},
		{name: "grouped source, udp", iif: "ext0", proto: udp17, src: "100.64.0.16", dst: "10.50.0.2", port: 80, wantVerdict: "drop"},
		{name: "ungrouped source", iif: "ext0", proto: tcp6, src: "100.64.0.40", dst: "10.50.0.2", port: 80, wantVerdict: "drop"},
		{name: "overlapped on 443: the first rule owns it", iif: "ext0", proto: tcp6, src: "100.64.0.3", dst: "10.50.0.2", port: 443, wantVerdict: "accept", wantOwner: first},
		{name: "overlapped, other ports stay with the policy", iif: "ext0", proto: tcp6, src: "100.64.0.3", dst: "10.50.0.2", port: 8000, wantVerdict: "accept", wantOwner: in(3)},
		{name: "ipv6 grouped source", iif: "ext0", proto: tcp6, src: "2001:db8:64::1f", dst: "fd00:50::2", port: 443, wantVerdict: "accept", wantOwner: in(31)},
		{name: "ipv6 overlapped on 443", iif: "ext0", proto: tcp6, src: "2001:db8:64::f", dst: "fd00:50::2", port: 443, wantVerdict: "accept", wantOwner: first},
		{name: "ipv6 ungrouped source", iif: "ext0", proto: tcp6, src: "2001:db8:64::40", dst: "fd00:50::2", port: 443, wantVerdict: "drop"},
		{name: "egress grouped", iif: "int0", proto: tcp6, src: "10.244.1.1", dst: "198.18.0.15", port: 443, wantVerdict: "accept", wantOwner: "cwnp.grp.eg15.egress-0"},
		{name: "egress grouped, other port", iif: "int0", proto: tcp6, src: "10.50.0.2", dst: "198.18.0.15", port: 8080, wantVerdict: "drop"},
		{name: "egress grouped, source outside the cluster", iif: "int0", proto: tcp6, src: "10.99.0.2", dst: "198.18.0.15", port: 443, wantVerdict: "drop"},
	})
}

// TestEvaluateInput: the agent's ports answer on internal interfaces and
// loopback only; the host's other ports are left alone.
func TestEvaluateInput(t *testing.T) {
	cfg := fixture.Config()
	cfg.AgentPorts = []AgentPort{{Proto: tcp6, Port: 2112}, {Proto: udp17, Port: 53}}
	for name, tbl := range map[string]*nft.Table{"ruleset": Compile(cfg, fixture.Input()).Table, "fail-closed": FailClosed(cfg)} {
		t.Run(name, func(t *testing.T) {
			tracePackets(t, tbl, []packet{
				{name: "metrics from outside dropped", hook: "input", iif: "ext0", proto: tcp6, src: "203.0.113.2", dst: "203.0.113.1", port: 2112, wantVerdict: "drop"},
				{name: "dns from outside dropped", hook: "input", iif: "ext0", proto: udp17, src: "203.0.113.2", dst: "10.50.0.1", port: 53, wantVerdict: "drop"},
				{name: "dns from inside answered", hook: "input", iif: "int0", proto: udp17, src: "10.50.0.2", dst: "10.50.0.1", port: 53, wantVerdict: "accept"},
				{name: "metrics on loopback answered", hook: "input", iif: "lo", proto: tcp6, src: "127.0.0.1", dst: "127.0.0.1", port: 2112, wantVerdict: "accept"},
				{name: "ssh from outside left alone", hook: "input", iif: "ext0", proto: tcp6, src: "203.0.113.2", dst: "203.0.113.1", port: 22, wantVerdict: "accept"},
			})
		})
	}
	tracePackets(t, FailClosed(cfg), []packet{
		{name: "fail closed: forwarding dropped", iif: "ext0", proto: tcp6, src: "203.0.113.2", dst: "10.50.0.2", port: 443, wantVerdict: "drop"},
	})
}

// TestMetalStackSemantics: a metal-stack.io/v1 policy read with
// --metal-stack-policies behaves as firewall-controller's where that is
// stricter, traced packet by packet; the same spec as a metalkube policy
// keeps metalkube's semantics.
func TestMetalStackSemantics(t *testing.T) {
	spec := v1alpha1.PolicySpec{
		Ingress: []v1alpha1.IngressRule{
			{From: []networkingv1.IPBlock{block("198.51.100.0/24")}}, // no ports
			{From: []networkingv1.IPBlock{block("192.0.2.0/24", "192.0.2.0/28"), block("192.0.0.0/16", "192.0.3.0/24")}, // excepts
				Ports: []networkingv1.NetworkPolicyPort{tcp(443)}},
		},
		Egress: []v1alpha1.EgressRule{{Ports: []networkingv1.NetworkPolicyPort{tcp(25)}}}, // ports, no to
	}
	cases := []packet{
		{name: "ingress rule without ports", iif: "ext0", proto: tcp6, src: "198.51.100.1", dst: "10.50.0.2", port: 22},
		{name: "excepted by one block, inside the other", iif: "ext0", proto: tcp6, src: "192.0.2.1", dst: "10.50.0.2", port: 443},
		{name: "excepted by the only block holding it", iif: "ext0", proto: tcp6, src: "192.0.3.1", dst: "10.50.0.2", port: 443},
		{name: "outside every except", iif: "ext0", proto: tcp6, src: "192.0.2.100", dst: "10.50.0.2", port: 443},
		{name: "egress with ports and no to", iif: "int0", proto: tcp6, src: "10.50.0.2", dst: "203.0.113.9", port: 25},
	}
	want := map[bool][]string{
		false: {"accept", "accept", "drop", "accept", "accept"}, // metalkube: per-block excepts, empty lists mean any
		true:  {"drop", "drop", "drop", "accept", "drop"},       // firewall-controller: pooled excepts, empty lists allow nothing
	}
	for _, ms := range []bool{false, true} {
		t.Run(map[bool]string{false: "metalkube", true: "metal-stack"}[ms], func(t *testing.T) {
			res := Compile(fixture.Config(), Input{Policies: []Policy{{Name: "firewall/p", Spec: spec, MetalStack: ms}}})
			if pr := res.Policies["firewall/p"]; pr.Ignored {
				t.Fatalf("ignored: %s", pr.Message)
			}
			var pk []packet
			for i, c := range cases {
				c.wantVerdict = want[ms][i]
				if c.wantVerdict == "accept" {
					c.wantOwner = "cwnp.firewall.p." + "ingress-"
					switch i {
					case 0:
						c.wantOwner += "0"
					case 4:
						c.wantOwner = "cwnp.firewall.p.egress-0"
					default:
						c.wantOwner += "1"
					}
				}
				pk = append(pk, c)
			}
			tracePackets(t, res.Table, pk)
		})
	}
	// a protocol without a port: metalkube allows the protocol, metal-stack refuses the policy
	udp := corev1.ProtocolUDP
	noPort := v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp}}}}}
	if pr := Compile(fixture.Config(), Input{Policies: []Policy{{Name: "firewall/q", Spec: noPort}}}).Policies["firewall/q"]; pr.Ignored {
		t.Errorf("metalkube semantics ignored a protocol without port: %s", pr.Message)
	}
	if pr := Compile(fixture.Config(), Input{Policies: []Policy{{Name: "firewall/q", Spec: noPort, MetalStack: true}}}).Policies["firewall/q"]; !pr.Ignored || !strings.Contains(pr.Message, "protocol without a port") {
		t.Errorf("metal-stack semantics: %+v, want ignored for a protocol without a port", pr)
	}
	// NodePort Services open nothing under metal-stack semantics
	cfg := fixture.Config()
	nodePort := packet{name: "nodeport", iif: "ext0", proto: udp17, src: "203.0.113.2", dst: "10.50.0.2", port: 30053, wantVerdict: "accept", wantOwner: "svc.default.dns"}
	tracePackets(t, Compile(cfg, fixture.Input()).Table, []packet{nodePort})
	cfg.MetalStack = true
	nodePort.wantVerdict, nodePort.wantOwner = "drop", ""
	tracePackets(t, Compile(cfg, fixture.Input()).Table, []packet{nodePort})
}
