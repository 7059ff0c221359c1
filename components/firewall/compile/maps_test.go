package compile

import (
	"fmt"
	"math/rand"
	"net/netip"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	"github.com/metalkube/metalkube/components/firewall/nft"
)

// TestPortGroupsAgainstRules compiles random policies that draw their ports
// from a few shared lists (so that port groups form next to the maps by
// shape) and traces random packets through the ruleset: each is accepted
// exactly when some rule's boxes, before they were cut disjoint, hold it,
// and counted for the first such rule.
func TestPortGroupsAgainstRules(t *testing.T) {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port := func(proto *corev1.Protocol, p int32, end ...int32) networkingv1.NetworkPolicyPort {
		pp := networkingv1.NetworkPolicyPort{Protocol: proto, Port: &intstr.IntOrString{IntVal: p}}
		if len(end) > 0 {
			pp.EndPort = &end[0]
		}
		return pp
	}
	portLists := [][]networkingv1.NetworkPolicyPort{
		{port(&tcp, 80), port(&tcp, 443), port(&tcp, 8000, 8080)},
		{port(&tcp, 443), port(&udp, 53)},
		{port(&tcp, 22)},
		{port(&tcp, 80), port(&tcp, 443)},
		{port(&udp, 5000, 5010), port(&tcp, 5005)},
		{port(&udp, 80), port(&udp, 443), port(&udp, 8000, 8080)}, // the first's ports, another protocol
	}
	// addresses from small pools, so that packets hit and rules overlap
	addr := func(rng *rand.Rand, v6 bool, bits int) string {
		if v6 {
			return fmt.Sprintf("2001:db8::%x/%d", rng.Intn(256)&^(1<<(128-bits)-1), bits)
		}
		return fmt.Sprintf("198.51.100.%d/%d", rng.Intn(256)&^(1<<(32-bits)-1), bits)
	}
	cfg := Config{
		TableName: "metalkube", ExternalInterfaces: []string{"ext0"}, InternalInterfaces: []string{"int0"},
		NodeCIDRs: []netip.Prefix{netip.MustParsePrefix("10.50.0.0/24"), netip.MustParsePrefix("fd00:50::/64")},
	}
	for seed := int64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			var in Input
			for i := 0; i < 400; i++ {
				v6 := rng.Intn(3) == 0
				bits := []int{32, 32, 32, 30, 28}[rng.Intn(5)]
				if v6 {
					bits += 96
				}
				block := networkingv1.IPBlock{CIDR: addr(rng, v6, bits)}
				ports := portLists[max(0, rng.Intn(len(portLists)+4)-4)] // the first list mostly
				spec := v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{From: []networkingv1.IPBlock{block}, Ports: ports}}}
				if rng.Intn(4) == 0 {
					spec = v1alpha1.PolicySpec{Egress: []v1alpha1.EgressRule{{To: []networkingv1.IPBlock{block}, Ports: ports}}}
				}
				in.Policies = append(in.Policies, Policy{Name: fmt.Sprintf("p/%03d", i), Spec: spec})
			}
			res := Compile(cfg, in)
			groups := 0
			for _, s := range res.Table.Sets {
				if strings.Contains(s.Name, "-pt-") {
					groups++
				}
			}
			t.Logf("%d port sets", groups)
			if groups == 0 {
				t.Fatal("no port group formed: the test does not exercise them")
			}
			ingress, egress := rulesOf(t, cfg, in)
			accepted, viaGroup := 0, 0
			for k := 0; k < 3000; k++ {
				v6 := rng.Intn(3) == 0
				remote := netip.MustParsePrefix(addr(rng, v6, map[bool]int{false: 32, true: 128}[v6])).Addr()
				node := netip.MustParseAddr(map[bool]string{false: "10.50.0.2", true: "fd00:50::2"}[v6])
				proto := []uint8{6, 17}[rng.Intn(2)]
				dport := []uint16{22, 53, 80, 443, 5000, 5005, 5011, 8000, 8050, 8080, 8081}[rng.Intn(11)]
				p := nft.Packet{IIf: "ext0", Proto: proto, Saddr: remote, Daddr: node, Dport: dport}
				rules := ingress
				if rng.Intn(2) == 0 {
					p.IIf, p.Saddr, p.Daddr, rules = "int0", node, remote, egress
				}
				wantVerdict, wantOwner := "drop", ""
				if owner := firstRule(rules, p); owner != "" {
					wantVerdict, wantOwner = "accept", owner
				}
				tr, err := res.Table.Evaluate(p)
				if err != nil {
					t.Fatal(err)
				}
				if tr.Verdict != wantVerdict || tr.Owner != wantOwner {
					t.Fatalf("%+v: %s by %q (rule %s), want %s by %q", p, tr.Verdict, tr.Owner, tr.Rule, wantVerdict, wantOwner)
				}
				if tr.Verdict == "accept" {
					accepted++
					var chain string
					var idx int
					if _, err := fmt.Sscanf(strings.Replace(tr.Rule, "[", " ", 1), "%s %d]", &chain, &idx); err == nil && strings.Contains(res.Table.Chain(chain).Rules[idx].String(), "-pt-") {
						viaGroup++
					}
				}
			}
			t.Logf("%d of 3000 packets accepted, %d of them by a port group", accepted, viaGroup)
			if viaGroup == 0 || viaGroup == accepted {
				t.Error("the packets do not exercise both port groups and maps by shape")
			}
		})
	}
}

// rulesOf returns the ingress and egress rules of in, in Compile's order.
func rulesOf(t *testing.T, cfg Config, in Input) (ingress, egress []rule) {
	t.Helper()
	cluster := append(append([]netip.Prefix(nil), cfg.NodeCIDRs...), cfg.PodCIDRs...)
	policies := append([]Policy(nil), in.Policies...)
	sort.Slice(policies, func(i, j int) bool { return policies[i].Name < policies[j].Name })
	for _, p := range policies {
		i, e, err := policyRules(p, cluster, false)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		ingress, egress = append(ingress, i...), append(egress, e...)
	}
	return ingress, egress
}

// firstRule returns the counter of the first rule whose boxes hold p.
func firstRule(rules []rule, p nft.Packet) string {
	fam := 0
	if p.Saddr.Is6() {
		fam = 1
	}
	pt := [4]u128{{0, uint64(p.Proto)}, {0, uint64(p.Dport)}, u128From(p.Saddr.AsSlice()), u128From(p.Daddr.AsSlice())}
	for _, r := range rules {
		for _, b := range r.boxes[fam] {
			inside := true
			for d, s := range b.s {
				inside = inside && !pt[d].less(s.lo) && !s.hi.less(pt[d])
			}
			if inside {
				return r.info.Counter
			}
		}
	}
	return ""
}
