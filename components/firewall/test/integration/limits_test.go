package integration

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	"github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/internal/fixture"
	"github.com/metalkube/metalkube/components/firewall/internal/topology"
)

// TestAllowedNetworks: with allowed ingress networks set, a source outside
// them is dropped even where a policy allows the port.
func TestAllowedNetworks(t *testing.T) {
	top := topology.New(t)
	serve(t, top.Int, 443)
	cfg := fixture.Config()
	cfg.AllowedIngressNetworks = []netip.Prefix{netip.MustParsePrefix("203.0.113.3/32"), netip.MustParsePrefix("2001:db8::/64")}
	cfg.AllowedEgressNetworks = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	if _, err := newApplier(t, top.FW).Apply(compile.Compile(cfg, fixture.Input()).Table); err != nil {
		t.Fatal(err)
	}
	checkFlows(t, []flow{
		{name: "allowed network", from: top.Ext, proto: "tcp", src: "203.0.113.3", dst: "10.50.0.2", port: 443, allowed: true},
		{name: "other network dropped", from: top.Ext, proto: "tcp", src: "203.0.113.2", dst: "10.50.0.2", port: 443},
		{name: "allowed ipv6 network", from: top.Ext, proto: "tcp", src: "2001:db8::2", dst: "fd00:50::2", port: 443, allowed: true},
		{name: "other ipv6 network dropped", from: top.Ext, proto: "tcp", src: "2001:db9::2", dst: "fd00:50::2", port: 443},
	})
}

// TestRateLimit: traffic entering the limited interface stays near the limit.
func TestRateLimit(t *testing.T) {
	top := topology.New(t)
	const limit = 1_250_000 // bytes per second (10 Mbit/s)
	cfg := fixture.Config()
	cfg.RateLimits = []compile.RateLimit{{Interface: "ext0", BytesPerSecond: limit}}
	if _, err := newApplier(t, top.FW).Apply(compile.Compile(cfg, fixture.Input()).Table); err != nil {
		t.Fatal(err)
	}
	// a sink on an allowed port in Int
	var ln net.Listener
	if err := top.Int.Do(func() (err error) { ln, err = net.Listen("tcp", ":443"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	received := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- 0
			return
		}
		n, _ := io.Copy(io.Discard, c)
		received <- n
	}()
	var conn net.Conn
	if err := top.Ext.Do(func() (err error) { conn, err = net.Dial("tcp", "10.50.0.2:443"); return err }); err != nil {
		t.Fatal(err)
	}
	const d = 2 * time.Second
	buf := make([]byte, 64<<10)
	start := time.Now()
	_ = conn.SetWriteDeadline(start.Add(d))
	for {
		if _, err := conn.Write(buf); err != nil {
			break
		}
	}
	conn.Close()
	n := <-received // until everything buffered has arrived
	rate := float64(n) / time.Since(start).Seconds()
	t.Logf("%.0f bytes/s through a %d bytes/s limit", rate, limit)
	if rate > 2*limit {
		t.Errorf("rate %.0f bytes/s, want at most about %d", rate, limit)
	}
	if rate < limit/10 {
		t.Errorf("rate %.0f bytes/s: the limit throttles far below %d", rate, limit)
	}
}

// TestLongPolicyName: a policy whose name has the most characters Kubernetes
// allows (253) applies, with a plain and an FQDN rule (whose sets and
// counter are kernel objects named after the rule), and its traffic passes
// and is counted under the policy's name.
func TestLongPolicyName(t *testing.T) {
	top := topology.New(t)
	serve(t, top.Int, 9443)
	cfg := fixture.Config()
	cfg.FQDN = true
	name := "firewall/" + strings.Repeat("a", 253)
	in := fixture.Input()
	in.Policies = append(in.Policies, compile.Policy{Name: name, Spec: v1alpha1.PolicySpec{
		Ingress: []v1alpha1.IngressRule{{From: []networkingv1.IPBlock{fixture.Block("203.0.113.2/32")}, Ports: []networkingv1.NetworkPolicyPort{fixture.TCP(9443)}}}, // a single value: the -exact map
		Egress:  []v1alpha1.EgressRule{{ToFQDNs: []v1alpha1.FQDNSelector{{MatchName: "registry.example.com"}}, Ports: []networkingv1.NetworkPolicyPort{fixture.TCP(443)}}},
	}})
	res := compile.Compile(cfg, in)
	if pr := res.Policies[name]; pr.Ignored {
		t.Fatalf("policy ignored: %s", pr.Message)
	}
	a := newApplier(t, top.FW)
	if _, err := a.Apply(res.Table); err != nil {
		t.Fatal(err)
	}
	if res.Table.Set("ingress4-stp-exact") == nil {
		t.Fatal("no map ingress4-stp-exact")
	}
	checkFlows(t, []flow{{name: "long-named policy allows", from: top.Ext, proto: "tcp", src: "203.0.113.2", dst: "10.50.0.2", port: 9443, allowed: true}})
	counters, err := a.Counters(res.Table.Name)
	if err != nil {
		t.Fatal(err)
	}
	rule := "cwnp.firewall." + strings.Repeat("a", 253) + ".ingress-0"
	if got := counters[rule].Packets; got < 1 {
		t.Errorf("counter of %s: %d packets, want at least 1", rule, got)
	}
	// a later change still applies
	in.Policies = in.Policies[:len(in.Policies)-1]
	if _, err := a.Apply(compile.Compile(cfg, in).Table); err != nil {
		t.Fatalf("apply after the long-named policy: %v", err)
	}
	checkFlows(t, []flow{{name: "revoked", from: top.Ext, proto: "tcp", src: "203.0.113.2", dst: "10.50.0.2", port: 9443}})
}
