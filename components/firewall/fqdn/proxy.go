// Package fqdn implements egress rules to DNS names: a DNS proxy on the
// firewall forwards the cluster's queries to an upstream resolver and, before
// it answers, adds the A and AAAA records of names that match a policy's
// toFQDNs selectors to that rule's nftables sets, each address expiring with
// its record's TTL (raised to MinTTL). The addresses are also kept in a state
// file, so that after a restart the agent's first ruleset already holds them.
//
// Selectors follow metal-stack's semantics: matchName matches one name
// (case-insensitive, trailing dot optional); in matchPattern "*" matches any
// run of name characters, dots included, so "*.example.com" matches
// "a.b.example.com".
package fqdn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/miekg/dns"

	"github.com/metalkube/metalkube/components/firewall/api/v1alpha1"
	"github.com/metalkube/metalkube/components/firewall/compile"
)

// SetWriter adds addresses with a timeout to a set of the table.
type SetWriter interface {
	AddTimeoutElements(table, set string, ips []netip.Addr, timeout time.Duration) error
}

// Proxy is the DNS proxy. Set the fields, then Start it.
type Proxy struct {
	// Listen is the address to serve DNS on (UDP and TCP).
	Listen string
	// Upstream is the resolver queries are forwarded to (host:port).
	Upstream string
	// Table is the nftables table holding the FQDN sets.
	Table string
	// Sets writes resolved addresses to the kernel.
	Sets SetWriter
	// StateFile keeps resolved addresses across restarts ("" = none).
	StateFile string
	// MinTTL is the least time an address stays allowed.
	MinTTL time.Duration
	// ListenIn, if set, wraps creating the listening sockets (tests use it to
	// listen in a network namespace).
	ListenIn func(func() error) error
	Log      logr.Logger

	mu    sync.Mutex
	rules []matcher
	cache map[string]map[netip.Addr]time.Time // set -> address -> expiry
}

type matcher struct {
	re         *regexp.Regexp
	set4, set6 string
}

// SetRules replaces the FQDN rules (after each compile).
func (p *Proxy) SetRules(rules []compile.FQDNRule) {
	var ms []matcher
	for _, r := range rules {
		for _, s := range r.Selectors {
			ms = append(ms, matcher{re: regexp.MustCompile(Regexp(s)), set4: r.Set4, set6: r.Set6})
		}
	}
	p.mu.Lock()
	p.rules = ms
	p.mu.Unlock()
}

// Snapshot returns the cached addresses by set (for compiling).
func (p *Proxy) Snapshot() map[string][]compile.FQDNEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string][]compile.FQDNEntry{}
	now := time.Now()
	for set, m := range p.cache {
		for ip, exp := range m {
			if exp.After(now) {
				out[set] = append(out[set], compile.FQDNEntry{IP: ip, Expires: exp})
			}
		}
		sort.Slice(out[set], func(i, j int) bool { return out[set][i].IP.Less(out[set][j].IP) })
	}
	return out
}

// Regexp returns the regular expression a selector matches fully qualified,
// lower-case names with.
func Regexp(s v1alpha1.FQDNSelector) string {
	if s.MatchName != "" {
		return "^" + regexp.QuoteMeta(strings.ToLower(dns.Fqdn(s.MatchName))) + "$"
	}
	if s.MatchPattern == "*" {
		return `^([-a-z0-9_.]+[.])?$|^[.]$`
	}
	parts := strings.Split(strings.ToLower(dns.Fqdn(strings.TrimSpace(s.MatchPattern))), "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return "^" + strings.Join(parts, `[-a-z0-9_.]*`) + "$"
}

// Load reads the state file, dropping expired addresses.
func (p *Proxy) Load() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cache = map[string]map[netip.Addr]time.Time{}
	if p.StateFile == "" {
		return nil
	}
	b, err := os.ReadFile(p.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var st map[string]map[string]time.Time
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("read FQDN state %s: %w", p.StateFile, err)
	}
	now := time.Now()
	for set, m := range st {
		for ip, exp := range m {
			if a, err := netip.ParseAddr(ip); err == nil && exp.After(now) {
				if p.cache[set] == nil {
					p.cache[set] = map[netip.Addr]time.Time{}
				}
				p.cache[set][a] = exp
			}
		}
	}
	return nil
}

// save writes the state file; p.mu is held.
func (p *Proxy) save() error {
	if p.StateFile == "" {
		return nil
	}
	now := time.Now()
	st := map[string]map[string]time.Time{}
	for set, m := range p.cache {
		for ip, exp := range m {
			if exp.After(now) {
				if st[set] == nil {
					st[set] = map[string]time.Time{}
				}
				st[set][ip.String()] = exp
			} else {
				delete(m, ip)
			}
		}
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p.StateFile), 0o755); err != nil {
		return err
	}
	tmp := p.StateFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p.StateFile)
}

// Start serves DNS until ctx ends (manager.Runnable).
func (p *Proxy) Start(ctx context.Context) error {
	if p.cache == nil {
		if err := p.Load(); err != nil {
			return err
		}
	}
	var pc net.PacketConn
	var ln net.Listener
	listen := func() error {
		var err error
		if pc, err = net.ListenPacket("udp", p.Listen); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", p.Listen)
		return err
	}
	if p.ListenIn != nil {
		if err := p.ListenIn(listen); err != nil {
			return fmt.Errorf("DNS proxy listen on %s: %w", p.Listen, err)
		}
	} else if err := listen(); err != nil {
		return fmt.Errorf("DNS proxy listen on %s: %w", p.Listen, err)
	}
	udp := &dns.Server{PacketConn: pc, Handler: p}
	tcp := &dns.Server{Listener: ln, Handler: p}
	errc := make(chan error, 2)
	go func() { errc <- udp.ActivateAndServe() }()
	go func() { errc <- tcp.ActivateAndServe() }()
	p.Log.Info("DNS proxy serving", "address", p.Listen, "upstream", p.Upstream)
	select {
	case <-ctx.Done():
	case err := <-errc:
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
		return err
	}
	_ = udp.Shutdown()
	_ = tcp.Shutdown()
	return nil
}

// NeedLeaderElection: every firewall runs its own proxy.
func (p *Proxy) NeedLeaderElection() bool { return false }

// ServeDNS forwards a query and records matching answers before replying.
func (p *Proxy) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		c.Net = "tcp"
	}
	resp, _, err := c.Exchange(req, p.Upstream)
	if err != nil {
		p.Log.Error(err, "forwarding DNS query", "upstream", p.Upstream)
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeServerFailure)
		_ = w.WriteMsg(m)
		return
	}
	if len(req.Question) > 0 {
		p.record(strings.ToLower(dns.Fqdn(req.Question[0].Name)), resp)
	}
	_ = w.WriteMsg(resp)
}

// record adds the answer's addresses to the sets of matching rules.
func (p *Proxy) record(name string, resp *dns.Msg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var sets4, sets6 []string
	for _, m := range p.rules {
		if m.re.MatchString(name) {
			sets4, sets6 = append(sets4, m.set4), append(sets6, m.set6)
		}
	}
	if len(sets4) == 0 {
		return
	}
	type addr struct {
		ip  netip.Addr
		ttl time.Duration
	}
	var v4, v6 []addr
	for _, rr := range resp.Answer {
		ttl := max(time.Duration(rr.Header().Ttl)*time.Second, p.MinTTL)
		switch rr := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(rr.A.To4()); ok {
				v4 = append(v4, addr{a, ttl})
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(rr.AAAA); ok {
				v6 = append(v6, addr{a, ttl})
			}
		}
	}
	now := time.Now()
	for _, group := range []struct {
		sets  []string
		addrs []addr
	}{{sets4, v4}, {sets6, v6}} {
		for _, set := range group.sets {
			for _, a := range group.addrs {
				if err := p.Sets.AddTimeoutElements(p.Table, set, []netip.Addr{a.ip}, a.ttl); err != nil {
					p.Log.Error(err, "adding resolved address", "name", name, "address", a.ip, "set", set)
					continue
				}
				if p.cache[set] == nil {
					p.cache[set] = map[netip.Addr]time.Time{}
				}
				if exp := now.Add(a.ttl); exp.After(p.cache[set][a.ip]) {
					p.cache[set][a.ip] = exp
				}
				p.Log.V(1).Info("allowed resolved address", "name", name, "address", a.ip, "ttl", a.ttl, "set", set)
			}
		}
	}
	if err := p.save(); err != nil {
		p.Log.Error(err, "saving FQDN state")
	}
}
