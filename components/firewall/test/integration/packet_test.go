package integration

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	"github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/internal/fixture"
	"github.com/metalkube/metalkube/components/firewall/internal/topology"
	"github.com/metalkube/metalkube/components/firewall/nft"
	"github.com/metalkube/metalkube/shared/testkit/netns"
)

func newApplier(t testing.TB, ns *netns.NS) *nft.Applier {
	t.Helper()
	a, err := nft.NewApplier(nftables.WithNetNSFd(ns.FD()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// TestPackets applies the representative policies to the firewall namespace
// and sends real traffic through it.
func TestPackets(t *testing.T) {
	top := topology.New(t)
	serve(t, top.Int, 22, 443, 8000, 8050, 8080, 8100, 8101, 5353, 30053)
	serve(t, top.Ext, 22, 80, 443)

	// Without a ruleset everything is forwarded: the topology works.
	checkFlows(t, []flow{{name: "no firewall", from: top.Ext, proto: "tcp", dst: "10.50.0.2", port: 22, allowed: true, seenSrc: "203.0.113.2"}})

	a := newApplier(t, top.FW)
	res := compile.Compile(fixture.Config(), fixture.Input())
	if _, err := a.Apply(res.Table); err != nil {
		t.Fatal(err)
	}
	ext, intl := top.Ext, top.Int
	checkFlows(t, []flow{
		// ingress: single port from anywhere
		{name: "ingress 443 allowed", from: ext, proto: "tcp", src: "203.0.113.2", dst: "10.50.0.2", port: 443, allowed: true},
		{name: "ingress 22 denied", from: ext, proto: "tcp", src: "203.0.113.2", dst: "10.50.0.2", port: 22},
		// ranges and except blocks
		{name: "range start allowed", from: ext, proto: "tcp", src: "203.0.113.3", dst: "10.50.0.2", port: 8000, allowed: true},
		{name: "range end allowed", from: ext, proto: "tcp", src: "203.0.113.3", dst: "10.50.0.2", port: 8100, allowed: true},
		{name: "past range end denied", from: ext, proto: "tcp", src: "203.0.113.3", dst: "10.50.0.2", port: 8101},
		{name: "except block denied", from: ext, proto: "tcp", src: "203.0.113.2", dst: "10.50.0.2", port: 8050},
		{name: "udp allowed", from: ext, proto: "udp", src: "203.0.113.3", dst: "10.50.0.2", port: 5353, allowed: true},
		{name: "udp from except denied", from: ext, proto: "udp", src: "203.0.113.2", dst: "10.50.0.2", port: 5353},
		// IPv6
		{name: "ipv6 range allowed", from: ext, proto: "tcp", src: "2001:db8::2", dst: "fd00:50::2", port: 8050, allowed: true},
		{name: "ipv6 outside block denied", from: ext, proto: "tcp", src: "2001:db9::2", dst: "fd00:50::2", port: 8050},
		{name: "ipv6 443 allowed", from: ext, proto: "tcp", src: "2001:db9::2", dst: "fd00:50::2", port: 443, allowed: true},
		// a LoadBalancer Service with loadBalancerSourceRanges, a NodePort Service
		{name: "loadbalancer from source range allowed", from: ext, proto: "tcp", src: "198.51.100.7", dst: "10.50.1.10", port: 8080, allowed: true},
		{name: "loadbalancer from elsewhere denied", from: ext, proto: "tcp", src: "203.0.113.2", dst: "10.50.1.10", port: 8080},
		{name: "nodeport allowed", from: ext, proto: "udp", src: "203.0.113.2", dst: "10.50.0.2", port: 30053, allowed: true},
		// egress with SNAT: the server sees the firewall's address
		{name: "egress 80 allowed with snat", from: intl, proto: "tcp", dst: "203.0.113.2", port: 80, allowed: true, seenSrc: "203.0.113.1"},
		{name: "egress 22 denied", from: intl, proto: "tcp", dst: "203.0.113.2", port: 22},
		{name: "egress ipv6 to block allowed", from: intl, proto: "tcp", dst: "2001:db8:1::2", port: 22, allowed: true, seenSrc: "fd00:50::2"},
		{name: "egress ipv6 outside block denied", from: intl, proto: "tcp", dst: "2001:db8::2", port: 22},
	})

	counters, err := a.Counters(res.Table.Name)
	if err != nil {
		t.Fatal(err)
	}
	for name, min := range map[string]uint64{
		"cwnp.firewall.allow-https-in.ingress-0": 2, "cwnp.firewall.partners.ingress-0": 4,
		"svc.default.web": 1, "svc.default.dns": 1, "cwnp.firewall.egress.egress-0": 1,
		"dropped-ingress": 1, "dropped-egress": 1, "established": 1,
	} {
		if got := counters[name].Packets; got < min {
			t.Errorf("counter %s: %d packets, want at least %d", name, got, min)
		}
	}
}

// TestPortGroupPackets: policies that share a port set are looked up as
// port groups (a port-set match, then a map of sources); real traffic is
// allowed and denied as the rules say and counted for the owning rule.
func TestPortGroupPackets(t *testing.T) {
	top := topology.New(t)
	serve(t, top.Int, 22, 80, 443, 8050)
	a := newApplier(t, top.FW)
	res := compile.Compile(fixture.Config(), fixture.PortGroups())
	if _, err := a.Apply(res.Table); err != nil {
		t.Fatal(err)
	}
	if ch := res.Table.Chain(compile.ChainIngress); ch == nil || !strings.Contains(ch.Rules[0].String(), "-pt-") {
		t.Fatalf("the ingress chain does not start with a port group: %v", ch)
	}
	ext := top.Ext
	checkFlows(t, []flow{
		{name: "grouped source 443 allowed", from: ext, proto: "tcp", src: "203.0.113.2", dst: "10.50.0.2", port: 443, allowed: true},
		{name: "grouped source 80 allowed", from: ext, proto: "tcp", src: "203.0.113.2", dst: "10.50.0.2", port: 80, allowed: true},
		{name: "grouped source range allowed", from: ext, proto: "tcp", src: "203.0.113.2", dst: "10.50.0.2", port: 8050, allowed: true},
		{name: "grouped source 22 denied", from: ext, proto: "tcp", src: "203.0.113.2", dst: "10.50.0.2", port: 22},
		{name: "other source denied", from: ext, proto: "tcp", src: "203.0.113.3", dst: "10.50.0.2", port: 443},
		{name: "ipv6 grouped source allowed", from: ext, proto: "tcp", src: "2001:db8::2", dst: "fd00:50::2", port: 8050, allowed: true},
		{name: "ipv6 other source denied", from: ext, proto: "tcp", src: "2001:db9::2", dst: "fd00:50::2", port: 443},
	})
	counters, err := a.Counters(res.Table.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got := counters["cwnp.grp.ext.ingress-0"].Packets; got < 4 {
		t.Errorf("counter of the grouped rule: %d packets, want at least 4", got)
	}
	if got := counters["cwnp.grp.in00.ingress-0"].Packets; got != 0 {
		t.Errorf("counter of a rule no traffic matched: %d packets, want 0", got)
	}
	// A restarted agent replaces the whole table; elements that stay (all
	// of them here) are neither deleted nor re-added, so they keep counting.
	restarted := newApplier(t, top.FW)
	if r, err := restarted.Apply(res.Table); err != nil || !r.Full {
		t.Fatalf("apply after restart: %+v %v", r, err)
	}
	after, err := restarted.Counters(res.Table.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got, before := after["cwnp.grp.ext.ingress-0"].Packets, counters["cwnp.grp.ext.ingress-0"].Packets; got < before {
		t.Errorf("counter of the grouped rule after a restart: %d packets, %d before", got, before)
	}
}

// TestPortGroupChanges: port groups forming and dissolving (elements
// moving between maps) are applied as differences and leave the kernel
// equal to a fresh load of the same table.
func TestPortGroupChanges(t *testing.T) {
	netns.Require(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("skipping: needs the nft tool (Debian package nftables)")
	}
	grouped := fixture.PortGroups()
	few := grouped
	few.Policies = few.Policies[:10] // too few rows left for any group
	incrNS := netns.New(t, "incr")
	incremental := newApplier(t, incrNS)
	for i, in := range []compile.Input{grouped, few, grouped} {
		tbl := compile.Compile(fixture.Config(), in).Table
		r, err := incremental.Apply(tbl)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if i > 0 && r.Full {
			t.Errorf("step %d replaced the whole table", i)
		}
		if d, err := incremental.Drift(); err != nil || d != "" {
			t.Errorf("step %d: drift %q %v", i, d, err)
		}
		fresh := netns.New(t, fmt.Sprintf("fresh%d", i))
		if _, err := newApplier(t, fresh).Apply(tbl); err != nil {
			t.Fatal(err)
		}
		if a, b := sortedLines(listTable(t, incrNS)), sortedLines(listTable(t, fresh)); a != b {
			t.Errorf("step %d: the incremental and the fresh ruleset differ:\n--- incremental\n%s\n--- fresh\n%s", i, a, b)
		}
	}
}

// TestNftAcceptsRenderedText loads the rendered text with the nft tool: the
// text the dry run prints and the benchmarks' reference approach load is
// valid nft syntax and describes the same ruleset the applier wrote.
func TestNftAcceptsRenderedText(t *testing.T) {
	netns.Require(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("skipping: needs the nft tool (Debian package nftables)")
	}
	fqdnCfg := fixture.Config()
	fqdnCfg.FQDN = true
	fqdnCfg.AllowedEgressNetworks = fqdnCfg.NodeCIDRs
	fqdnCfg.RateLimits = []compile.RateLimit{{Interface: "ext0", BytesPerSecond: 1 << 20}}
	fqdnIn := fixture.Input()
	fqdnIn.Policies = append(fqdnIn.Policies, compile.Policy{Name: "firewall/fqdn", Spec: v1alpha1.PolicySpec{Egress: []v1alpha1.EgressRule{
		{ToFQDNs: []v1alpha1.FQDNSelector{{MatchName: "example.com"}}, Ports: []networkingv1.NetworkPolicyPort{fixture.TCP(443)}}}}})
	for _, tc := range []struct {
		name string
		cfg  compile.Config
		in   compile.Input
	}{
		{"representative", fixture.Config(), fixture.Input()},
		{"port-groups", fixture.Config(), fixture.PortGroups()},
		{"fqdn-allowed-networks-rate-limit", fqdnCfg, fqdnIn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			viaText, viaNetlink := netns.New(t, "text"), netns.New(t, "netlink")
			tbl := compile.Compile(tc.cfg, tc.in).Table
			cmd := exec.Command("ip", "netns", "exec", viaText.Name, "nft", "-f", "-")
			cmd.Stdin = strings.NewReader(tbl.Render(true))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("nft -f: %v\n%s", err, out)
			}
			if _, err := newApplier(t, viaNetlink).Apply(tbl); err != nil {
				t.Fatal(err)
			}
			a, b := listTable(t, viaText), listTable(t, viaNetlink)
			if a != b {
				t.Errorf("nft -f and the applier produced different rulesets:\n--- nft -f\n%s\n--- applier\n%s", a, b)
			}
		})
	}
}

// sortedLines normalizes a listing for comparison: the kernel lists an
// interval set's elements in an order that depends on how they were added.
func sortedLines(listing string) string {
	var lines []string
	for _, l := range strings.Split(listing, "\n") {
		l = strings.TrimSpace(l)
		l = strings.TrimPrefix(l, "elements = { ")
		l = strings.TrimSuffix(strings.TrimSuffix(l, " }"), ",")
		lines = append(lines, l)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func listTable(t *testing.T, ns *netns.NS) string {
	t.Helper()
	return ns.Exec(t, "nft", "list", "table", "inet", "metalkube")
}

func nftWithNS(ns *netns.NS) nftables.ConnOption { return nftables.WithNetNSFd(ns.FD()) }
