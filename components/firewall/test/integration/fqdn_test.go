package integration

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/miekg/dns"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	"github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/fqdn"
	"github.com/metalkube/metalkube/components/firewall/internal/fixture"
	"github.com/metalkube/metalkube/components/firewall/internal/topology"
	"github.com/metalkube/metalkube/shared/testkit/netns"
)

// upstreamDNS answers A queries from a fixed zone, on loopback of the test's
// own namespace.
func upstreamDNS(t *testing.T, zone map[string]string, ttl uint32) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if ip, ok := zone[r.Question[0].Name]; ok {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.ParseIP(ip)})
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func resolve(t *testing.T, ns *netns.NS, name string) {
	t.Helper()
	err := ns.Do(func() error {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		_, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, "10.50.0.1:53")
		return err
	})
	if err != nil {
		t.Fatalf("resolve %s through the proxy: %v", name, err)
	}
}

// TestFQDNEgress: egress to DNS names is allowed once the proxy resolved the
// name, stops when the TTL runs out, and survives an agent restart.
func TestFQDNEgress(t *testing.T) {
	top := topology.New(t)
	serve(t, top.Ext, 22)
	upstream := upstreamDNS(t, map[string]string{
		"registry.example.com.": "203.0.113.2", "short.example.com.": "203.0.113.2",
		"other.example.org.": "203.0.113.3", "img.cdn.example.com.": "203.0.113.3",
	}, 2)
	cfg := fixture.Config()
	cfg.FQDN = true
	cfg.SNAT = nil
	policy := compile.Policy{Name: "firewall/registry", Spec: v1alpha1.PolicySpec{Egress: []v1alpha1.EgressRule{{
		ToFQDNs: []v1alpha1.FQDNSelector{{MatchName: "registry.example.com"}, {MatchPattern: "*.cdn.example.com"}},
		Ports:   []networkingv1.NetworkPolicyPort{fixture.TCP(22)}}}}}
	state := filepath.Join(t.TempDir(), "fqdn.json")

	// start runs an agent: applier, first apply from the proxy's cache, proxy.
	start := func(minTTL time.Duration) (*fqdn.Proxy, context.CancelFunc) {
		a := newApplier(t, top.FW)
		p := &fqdn.Proxy{Listen: "10.50.0.1:53", Upstream: upstream, Table: cfg.TableName, Sets: a, StateFile: state,
			MinTTL: minTTL, ListenIn: top.FW.Do, Log: testr.New(t)}
		if err := p.Load(); err != nil {
			t.Fatal(err)
		}
		res := compile.Compile(cfg, compile.Input{Policies: []compile.Policy{policy}, FQDN: p.Snapshot()})
		if _, err := a.Apply(res.Table); err != nil {
			t.Fatal(err)
		}
		p.SetRules(res.FQDNRules)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := p.Start(ctx); err != nil {
				t.Errorf("proxy: %v", err)
			}
		}()
		time.Sleep(100 * time.Millisecond)
		return p, func() { cancel(); <-done }
	}
	_, stop := start(time.Second)
	intl := top.Int
	checkFlows(t, []flow{{name: "before resolving denied", from: intl, proto: "tcp", dst: "203.0.113.2", port: 22}})
	resolve(t, intl, "registry.example.com")
	resolve(t, intl, "other.example.org")
	checkFlows(t, []flow{
		{name: "resolved name allowed", from: intl, proto: "tcp", dst: "203.0.113.2", port: 22, allowed: true, seenSrc: "10.50.0.2"},
		{name: "name not in policy denied", from: intl, proto: "tcp", dst: "203.0.113.3", port: 22},
	})
	resolve(t, intl, "img.cdn.example.com")
	checkFlows(t, []flow{{name: "pattern allowed", from: intl, proto: "tcp", dst: "203.0.113.3", port: 22, allowed: true, seenSrc: "10.50.0.2"}})
	time.Sleep(3 * time.Second) // TTL 2s
	checkFlows(t, []flow{{name: "expired denied", from: intl, proto: "tcp", dst: "203.0.113.2", port: 22}})

	// restart: a long TTL, then a new agent whose first apply comes from the state file
	stop()
	_, stop = start(time.Hour)
	resolve(t, intl, "registry.example.com")
	stop()
	// wipe the kernel's table as a reboot would; the state file brings the address back
	top.FW.Exec(t, "nft", "delete", "table", "inet", cfg.TableName)
	_, stop = start(time.Hour)
	defer stop()
	checkFlows(t, []flow{{name: "allowed after restart without resolving", from: intl, proto: "tcp", dst: "203.0.113.2", port: 22, allowed: true, seenSrc: "10.50.0.2"}})
}
