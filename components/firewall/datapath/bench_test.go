package datapath

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/metalkube/metalkube/components/firewall/api/v1alpha1"
	"github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/internal/fixture"
	"github.com/metalkube/metalkube/components/firewall/internal/netns"
	"github.com/metalkube/metalkube/components/firewall/nft"
)

// benchInput returns n policies with one ingress rule each (a distinct
// source address and port), plus extra policies.
func benchInput(n int, extra ...compile.Policy) compile.Input {
	var in compile.Input
	for i := 0; i < n; i++ {
		src := fmt.Sprintf("100.%d.%d.%d/32", 64+i>>16, (i>>8)&0xff, i&0xff)
		in.Policies = append(in.Policies, compile.Policy{Name: fmt.Sprintf("bench/p%05d", i), Spec: v1alpha1.PolicySpec{
			Ingress: []v1alpha1.IngressRule{{From: []networkingv1.IPBlock{fixture.Block(src)}, Ports: []networkingv1.NetworkPolicyPort{fixture.TCP(int32(10000 + i%20000))}}}}})
	}
	in.Policies = append(in.Policies, extra...)
	return in
}

func requireBenchTools(b *testing.B) {
	netns.Require(b)
	if _, err := exec.LookPath("nft"); err != nil {
		b.Skip("skipping: needs the nft tool (Debian package nftables) for the reference approach")
	}
}

// nftLoad loads text with `nft -f` in ns: the reference approach (metal-stack's
// firewall-controller renders its ruleset as text and loads it with nft).
func nftLoad(b *testing.B, ns *netns.NS, text string) {
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("nft -f: %v\n%s", err, out)
	}
}

// BenchmarkApply loads a ruleset of n rules into an empty kernel: the
// applier's one netlink batch against rendering the same table as text and
// loading it with `nft -f`,
// measured alternately in the same run. Reported: ns per apply of each and
// the ratio nft/netlink (>1: the applier is faster).
func BenchmarkApply(b *testing.B) {
	requireBenchTools(b)
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			tbl := compile.Compile(fixture.Config(), benchInput(n)).Table
			viaNetlink, viaText := netns.New(b, "bnl"), netns.New(b, "btx")
			a := newApplier(b, viaNetlink)
			var tNetlink, tText time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// both start from an empty kernel (not timed)
				if err := a.Delete(tbl.Name); err != nil {
					b.Fatal(err)
				}
				_ = exec.Command("ip", "netns", "exec", viaText.Name, "nft", "delete", "table", "inet", tbl.Name).Run()
				start := time.Now()
				if _, err := a.Apply(tbl); err != nil {
					b.Fatal(err)
				}
				tNetlink += time.Since(start)
				start = time.Now()
				nftLoad(b, viaText, tbl.Render(true))
				tText += time.Since(start)
			}
			report(b, tNetlink, tText)
		})
	}
}

// BenchmarkChangeOnePolicy changes one policy with 10,000 rules present: the
// applier sends only the difference; the reference reloads the whole text.
func BenchmarkChangeOnePolicy(b *testing.B) {
	requireBenchTools(b)
	const n = 10000
	extra := func(port int32) compile.Policy {
		return compile.Policy{Name: "bench/changing", Spec: v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{
			{From: []networkingv1.IPBlock{fixture.Block("192.0.2.0/24")}, Ports: []networkingv1.NetworkPolicyPort{fixture.TCP(port)}}}}}
	}
	tables := [2]*nft.Table{
		compile.Compile(fixture.Config(), benchInput(n, extra(8443))).Table,
		compile.Compile(fixture.Config(), benchInput(n, extra(9443))).Table,
	}
	viaNetlink, viaText := netns.New(b, "cnl"), netns.New(b, "ctx")
	a := newApplier(b, viaNetlink)
	if _, err := a.Apply(tables[1]); err != nil {
		b.Fatal(err)
	}
	var tNetlink, tText time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tbl := tables[i%2]
		start := time.Now()
		r, err := a.Apply(tbl)
		if err != nil {
			b.Fatal(err)
		}
		if r.Full {
			b.Fatal("a one-policy change replaced the whole table")
		}
		tNetlink += time.Since(start)
		start = time.Now()
		nftLoad(b, viaText, tbl.Render(true))
		tText += time.Since(start)
	}
	report(b, tNetlink, tText)
}

// BenchmarkCompile compiles 10,000 policies (not part of the apply numbers).
func BenchmarkCompile(b *testing.B) {
	in := benchInput(10000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		compile.Compile(fixture.Config(), in)
	}
}

func report(b *testing.B, netlinkTime, textTime time.Duration) {
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(netlinkTime.Nanoseconds())/float64(b.N), "netlink-ns/op")
	b.ReportMetric(float64(textTime.Nanoseconds())/float64(b.N), "nft-f-ns/op")
	b.ReportMetric(float64(textTime)/float64(netlinkTime), "nft/netlink")
}

// BenchmarkDrift checks a 10,000-rule table for drift (done every resync).
func BenchmarkDrift(b *testing.B) {
	requireBenchTools(b)
	tbl := compile.Compile(fixture.Config(), benchInput(10000)).Table
	a := newApplier(b, netns.New(b, "drift"))
	if _, err := a.Apply(tbl); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d, err := a.Drift(); err != nil || d != "" {
			b.Fatalf("drift %q %v", d, err)
		}
	}
}
