package integration

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	"github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/internal/fixture"
	"github.com/metalkube/metalkube/components/firewall/internal/topology"
)

// benchFlow allows the benchmark traffic: TCP 5201-5202 from the Ext namespace.
var benchFlow = compile.Policy{Name: "zz/bench-flow", Spec: v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{
	{From: []networkingv1.IPBlock{fixture.Block("203.0.113.0/24")}, Ports: []networkingv1.NetworkPolicyPort{fixture.TCP(5201, 5202)}}}}}

// linearRuleset renders the reference data path: one rule per policy rule in
// the forward chain, each with a counter, evaluated in order (the shape of
// metal-stack's firewall-controller ruleset), the benchmark flow last.
func linearRuleset(n int) string {
	var b strings.Builder
	b.WriteString("add table inet linear\ndelete table inet linear\ntable inet linear {\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy drop;\n")
	b.WriteString("\t\tct state established,related counter accept\n\t\tct state invalid counter drop\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "\t\tiifname \"ext0\" ip saddr 100.%d.%d.%d tcp dport %d counter accept\n", 64+i>>16, (i>>8)&0xff, i&0xff, 10000+i%20000)
	}
	b.WriteString("\t\tiifname \"ext0\" ip saddr 203.0.113.0/24 tcp dport 5201-5202 counter accept\n")
	b.WriteString("\t\toifname \"ext0\" accept\n\t}\n}\n")
	return b.String()
}

type dataPath struct {
	name  string
	setup func(b *testing.B, top *topology.Topology)
}

func dataPaths() []dataPath {
	vmap := func(n int) func(*testing.B, *topology.Topology) {
		return func(b *testing.B, top *topology.Topology) {
			if _, err := newApplier(b, top.FW).Apply(compile.Compile(fixture.Config(), benchInput(n, benchFlow)).Table); err != nil {
				b.Fatal(err)
			}
		}
	}
	linear := func(n int) func(*testing.B, *topology.Topology) {
		return func(b *testing.B, top *topology.Topology) { nftLoad(b, top.FW, linearRuleset(n)) }
	}
	return []dataPath{
		{"no-firewall", func(*testing.B, *topology.Topology) {}},
		{"vmap/rules=0", vmap(0)},
		{"vmap/rules=10000", vmap(10000)},
		{"linear-reference/rules=10000", linear(10000)},
	}
}

// BenchmarkThroughput measures TCP throughput with iperf3 from the Ext to the
// Int namespace through the firewall namespace, for each data path.
func BenchmarkThroughput(b *testing.B) {
	requireBenchTools(b)
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Skip("skipping: needs iperf3 (Debian package iperf3)")
	}
	for _, dp := range dataPaths() {
		b.Run(dp.name, func(b *testing.B) {
			top := topology.New(b)
			dp.setup(b, top)
			srv := exec.Command("ip", "netns", "exec", top.Int.Name, "iperf3", "-s", "-p", "5201")
			if err := srv.Start(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
			time.Sleep(300 * time.Millisecond)
			var bps float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out, err := exec.Command("ip", "netns", "exec", top.Ext.Name, "iperf3", "-c", "10.50.0.2", "-p", "5201", "-t", "2", "-J").Output()
				if err != nil {
					b.Fatalf("iperf3: %v\n%s", err, out)
				}
				var r struct {
					End struct {
						SumReceived struct {
							BitsPerSecond float64 `json:"bits_per_second"`
						} `json:"sum_received"`
					} `json:"end"`
				}
				if err := json.Unmarshal(out, &r); err != nil {
					b.Fatal(err)
				}
				bps += r.End.SumReceived.BitsPerSecond
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(bps/float64(b.N)/1e9, "Gbit/s")
		})
	}
}

// BenchmarkNewConnections measures how fast new TCP connections pass the
// firewall: the first packet of every connection is looked up in the rules.
// The data paths are measured in the same run, in alternating rounds (so
// that the machine's load falls on all of them alike): no firewall, the
// ruleset with no policies, and with 10,000 policies of the shape
// (the benchmark flow's element among them). Reported: connections per
// second of each and the ratio 10,000 policies / none (target >= 0.9).
func BenchmarkNewConnections(b *testing.B) {
	requireBenchTools(b)
	paths := []struct {
		name string
		n    int // policies; -1: no firewall
	}{{"no-firewall", -1}, {"policies=0", 0}, {"policies=10000", 10000}}
	tops := make([]*topology.Topology, len(paths))
	for i, p := range paths {
		tops[i] = topology.New(b)
		if p.n >= 0 {
			if _, err := newApplier(b, tops[i].FW).Apply(compile.Compile(fixture.Config(), benchInput(p.n, benchFlow)).Table); err != nil {
				b.Fatal(err)
			}
		}
		serve(b, tops[i].Int, 5202)
	}
	const round = 50
	elapsed := make([]time.Duration, len(paths))
	b.ResetTimer()
	for done := 0; done < b.N; done += round {
		for i := range paths {
			start := time.Now()
			for k := 0; k < min(round, b.N-done); k++ {
				if _, err := dial(tops[i].Ext, "tcp", "203.0.113.2", "10.50.0.2", 5202); err != nil {
					b.Fatal(err)
				}
			}
			elapsed[i] += time.Since(start)
		}
	}
	b.ReportMetric(0, "ns/op")
	rate := make([]float64, len(paths))
	for i, p := range paths {
		rate[i] = float64(b.N) / elapsed[i].Seconds()
		b.ReportMetric(rate[i], p.name+"-conn/s")
	}
	b.ReportMetric(rate[2]/rate[1], "10000/none")
}
