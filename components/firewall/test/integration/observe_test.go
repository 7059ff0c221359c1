package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/droplog"
	"github.com/metalkube/metalkube/components/firewall/internal/fixture"
	"github.com/metalkube/metalkube/components/firewall/internal/topology"
	"github.com/metalkube/metalkube/components/firewall/metrics"
)

// TestObservability: dropped packets arrive as log records through nflog,
// and the Prometheus collector reports the per-rule counters of real traffic.
func TestObservability(t *testing.T) {
	top := topology.New(t)
	serve(t, top.Int, 22, 443)
	a := newApplier(t, top.FW)
	res := compile.Compile(fixture.Config(), fixture.Input())
	if _, err := a.Apply(res.Table); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	packets := make(chan droplog.Packet, 16)
	l := &droplog.Logger{Group: fixture.Config().LogGroup, NetNS: top.FW.FD(), Log: testr.New(t), OnPacket: func(p droplog.Packet) { packets <- p }}
	errc := make(chan error, 1)
	go func() { errc <- l.Start(ctx) }()
	time.Sleep(200 * time.Millisecond) // subscribed

	if _, err := dial(top.Ext, "tcp", "203.0.113.2", "10.50.0.2", 22); err == nil {
		t.Fatal("port 22 was not dropped")
	}
	select {
	case p := <-packets:
		if p.Src.String() != "203.0.113.2" || p.Dst.String() != "10.50.0.2" || p.Proto != 6 || p.DstPort != 22 || !strings.Contains(p.Prefix, "ingress") {
			t.Errorf("logged %+v, want tcp 203.0.113.2 -> 10.50.0.2:22 from the ingress chain", p)
		}
	case err := <-errc:
		t.Fatalf("drop logger: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no dropped packet logged")
	}

	if _, err := dial(top.Ext, "tcp", "203.0.113.2", "10.50.0.2", 443); err != nil {
		t.Fatal(err)
	}
	c := metrics.NewCollector(a)
	c.SetRuleset(res.Table.Name, res.Rules)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() == "rule" || l.GetName() == "reason" {
					key += "{" + l.GetValue() + "}"
				}
			}
			values[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	for key, min := range map[string]float64{
		"metalkube_firewall_rule_packets_total{cwnp.firewall.allow-https-in.ingress-0}": 1,
		"metalkube_firewall_accepted_packets_total":                                     1,
		"metalkube_firewall_dropped_packets_total{ingress}":                             1,
		"metalkube_firewall_counters_up":                                                1,
	} {
		if values[key] < min {
			t.Errorf("%s = %v, want at least %v", key, values[key], min)
		}
	}
}
