package fqdn

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/miekg/dns"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	"github.com/metalkube/metalkube/components/firewall/compile"
)

func TestSelectors(t *testing.T) {
	tests := []struct {
		sel   v1alpha1.FQDNSelector
		name  string
		match bool
	}{
		{v1alpha1.FQDNSelector{MatchName: "Registry.Example.com"}, "registry.example.com.", true},
		{v1alpha1.FQDNSelector{MatchName: "registry.example.com."}, "registry.example.com.", true},
		{v1alpha1.FQDNSelector{MatchName: "registry.example.com"}, "xregistry.example.com.", false},
		{v1alpha1.FQDNSelector{MatchName: "registry.example.com"}, "registryxexample.com.", false},
		{v1alpha1.FQDNSelector{MatchPattern: "*.example.com"}, "a.example.com.", true},
		{v1alpha1.FQDNSelector{MatchPattern: "*.example.com"}, "a.b.example.com.", true},
		{v1alpha1.FQDNSelector{MatchPattern: "*.example.com"}, "example.com.", false},
		{v1alpha1.FQDNSelector{MatchPattern: "*.example.com"}, "a.example.org.", false},
		{v1alpha1.FQDNSelector{MatchPattern: "api-*.example.com"}, "api-eu1.example.com.", true},
		{v1alpha1.FQDNSelector{MatchPattern: "*"}, "anything.at.all.", true},
	}
	for _, tt := range tests {
		t.Run(tt.sel.MatchName+tt.sel.MatchPattern+"/"+tt.name, func(t *testing.T) {
			if got := regexp.MustCompile(Regexp(tt.sel)).MatchString(tt.name); got != tt.match {
				t.Errorf("%+v matches %s: %v, want %v", tt.sel, tt.name, got, tt.match)
			}
		})
	}
}

type recorder struct{ added map[string][]string } // set -> "ip ttl"

func (r *recorder) AddTimeoutElements(_, set string, ips []netip.Addr, ttl time.Duration) error {
	for _, ip := range ips {
		r.added[set] = append(r.added[set], ip.String()+" "+ttl.String())
	}
	return nil
}

func answer(rrs ...string) *dns.Msg {
	m := new(dns.Msg)
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	return m
}

// TestRecordBounds: only records owned by the queried name or its CNAME
// chain count, TTLs are raised to MinTTL and capped at MaxTTL, and no more
// than MaxEntries addresses are kept.
func TestRecordBounds(t *testing.T) {
	tests := []struct {
		name       string
		resp       *dns.Msg
		maxEntries int
		want       []string
	}{
		{"owner matches", answer("registry.example.com. 300 IN A 192.0.2.1"), 0, []string{"192.0.2.1 5m0s"}},
		{"other owner ignored", answer("registry.example.com. 300 IN A 192.0.2.1", "evil.example.org. 300 IN A 198.51.100.66"), 0, []string{"192.0.2.1 5m0s"}},
		{"cname chain followed", answer("registry.example.com. 300 IN CNAME edge.cdn.example.net.", "edge.cdn.example.net. 300 IN A 192.0.2.7",
			"unrelated.example.net. 300 IN A 198.51.100.66"), 0, []string{"192.0.2.7 5m0s"}},
		{"ttl raised to min", answer("registry.example.com. 1 IN A 192.0.2.1"), 0, []string{"192.0.2.1 1m0s"}},
		{"ttl capped at max", answer("registry.example.com. 2000000 IN A 192.0.2.1"), 0, []string{"192.0.2.1 1h0m0s"}},
		{"entry cap", answer("registry.example.com. 300 IN A 192.0.2.1", "registry.example.com. 300 IN A 192.0.2.2",
			"registry.example.com. 300 IN A 192.0.2.3"), 2, []string{"192.0.2.1 5m0s", "192.0.2.2 5m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{added: map[string][]string{}}
			p := &Proxy{Sets: rec, MinTTL: time.Minute, MaxTTL: time.Hour, MaxEntries: tt.maxEntries}
			if err := p.Load(); err != nil {
				t.Fatal(err)
			}
			p.SetRules([]compile.FQDNRule{{Selectors: []v1alpha1.FQDNSelector{{MatchName: "registry.example.com"}}, Set4: "s4", Set6: "s6"}})
			p.record("registry.example.com.", tt.resp)
			if got := rec.added["s4"]; !slices.Equal(got, tt.want) {
				t.Errorf("added %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCorruptState: an unreadable state file is replaced by an empty one
// and the proxy starts.
func TestCorruptState(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fqdn.json")
	if err := os.WriteFile(file, []byte(`{"s4": {"192.0.2.1": "not a time"`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Proxy{StateFile: file, Log: testr.New(t)}
	if err := p.Load(); err != nil {
		t.Fatalf("load: %v", err)
	}
	b, err := os.ReadFile(file)
	if err != nil || string(b) != "{}" {
		t.Errorf("state file now %q (%v), want {}", b, err)
	}
	if len(p.Snapshot()) != 0 {
		t.Errorf("snapshot %v, want empty", p.Snapshot())
	}
}
