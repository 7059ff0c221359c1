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

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
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
	// MaxTTL is the longest (default DefaultMaxTTL).
	MaxTTL time.Duration
	// MaxEntries caps the addresses kept over all sets (default
	// DefaultMaxEntries); past it new addresses are not allowed until
	// others expire.
	MaxEntries int
	// SaveInterval is the least time between two writes of the state file
	// (default DefaultSaveInterval).
	SaveInterval time.Duration
	// ListenIn, if set, wraps creating the listening sockets (tests use it to
	// listen in a network namespace).
	ListenIn func(func() error) error
	Log      logr.Logger

	mu      sync.Mutex
	rules   []matcher
	cache   map[string]map[netip.Addr]time.Time // set -> address -> expiry
	entries int                                 // addresses in cache
	dirty   chan struct{}                       // the cache changed since the last save
}

// Defaults of the proxy's bounds.
const (
	DefaultMaxTTL       = 24 * time.Hour
	DefaultMaxEntries   = 65536
	DefaultSaveInterval = 5 * time.Second
)

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
	p.entries = 0
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
		// a corrupt file must not keep the firewall from starting: the
		// addresses come back as the cluster resolves its names again
		p.Log.Error(err, "FQDN state file unreadable, starting with an empty one", "file", p.StateFile)
		if err := writeState(p.StateFile, map[string]map[string]time.Time{}); err != nil {
			return fmt.Errorf("replace unreadable FQDN state %s: %w", p.StateFile, err)
		}
		return nil
	}
	now := time.Now()
	for set, m := range st {
		for ip, exp := range m {
			if a, err := netip.ParseAddr(ip); err == nil && exp.After(now) {
				if p.cache[set] == nil {
					p.cache[set] = map[netip.Addr]time.Time{}
				}
				if _, ok := p.cache[set][a]; !ok {
					p.entries++
				}
				p.cache[set][a] = exp
			}
		}
	}
	return nil
}

// prune drops expired addresses; p.mu is held.
func (p *Proxy) prune(now time.Time) {
	for set, m := range p.cache {
		for ip, exp := range m {
			if !exp.After(now) {
				delete(m, ip)
				p.entries--
			}
		}
		if len(m) == 0 {
			delete(p.cache, set)
		}
	}
}

// save writes the state file from a snapshot taken under p.mu.
func (p *Proxy) save() error {
	if p.StateFile == "" {
		return nil
	}
	p.mu.Lock()
	p.prune(time.Now())
	st := make(map[string]map[string]time.Time, len(p.cache))
	for set, m := range p.cache {
		st[set] = make(map[string]time.Time, len(m))
		for ip, exp := range m {
			st[set][ip.String()] = exp
		}
	}
	p.mu.Unlock()
	return writeState(p.StateFile, st)
}

func writeState(file string, st map[string]map[string]time.Time) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

// saveLoop writes the state file after changes, at most every
// SaveInterval, and once more when ctx ends.
func (p *Proxy) saveLoop(ctx context.Context, dirty <-chan struct{}) {
	interval := p.SaveInterval
	if interval <= 0 {
		interval = DefaultSaveInterval
	}
	for {
		select {
		case <-ctx.Done():
			select {
			case <-dirty:
				if err := p.save(); err != nil {
					p.Log.Error(err, "saving FQDN state")
				}
			default:
			}
			return
		case <-dirty:
		}
		if err := p.save(); err != nil {
			p.Log.Error(err, "saving FQDN state")
		}
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
}

// Start serves DNS until ctx ends (manager.Runnable).
func (p *Proxy) Start(ctx context.Context) error {
	if p.cache == nil {
		if err := p.Load(); err != nil {
			return err
		}
	}
	dirty := make(chan struct{}, 1)
	p.mu.Lock()
	p.dirty = dirty
	p.mu.Unlock()
	saved := make(chan struct{})
	go func() { defer close(saved); p.saveLoop(ctx, dirty) }()
	defer func() { <-saved }()
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
	maxTTL := p.MaxTTL
	if maxTTL <= 0 {
		maxTTL = DefaultMaxTTL
	}
	owners := answerOwners(name, resp)
	var v4, v6 []addr
	for _, rr := range resp.Answer {
		if !owners[strings.ToLower(dns.Fqdn(rr.Header().Name))] {
			continue
		}
		ttl := min(max(time.Duration(rr.Header().Ttl)*time.Second, p.MinTTL), maxTTL)
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
	maxEntries := p.MaxEntries
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	now := time.Now()
	if p.entries >= maxEntries {
		p.prune(now)
	}
	changed := false
	for _, group := range []struct {
		sets  []string
		addrs []addr
	}{{sets4, v4}, {sets6, v6}} {
		for _, set := range group.sets {
			for _, a := range group.addrs {
				if _, known := p.cache[set][a.ip]; !known && p.entries >= maxEntries {
					p.Log.Info("FQDN address cap reached, address not allowed", "name", name, "address", a.ip, "max", maxEntries)
					continue
				}
				if err := p.Sets.AddTimeoutElements(p.Table, set, []netip.Addr{a.ip}, a.ttl); err != nil {
					p.Log.Error(err, "adding resolved address", "name", name, "address", a.ip, "set", set)
					continue
				}
				if p.cache[set] == nil {
					p.cache[set] = map[netip.Addr]time.Time{}
				}
				if _, known := p.cache[set][a.ip]; !known {
					p.entries++
				}
				if exp := now.Add(a.ttl); exp.After(p.cache[set][a.ip]) {
					p.cache[set][a.ip] = exp
					changed = true
				}
				p.Log.V(1).Info("allowed resolved address", "name", name, "address", a.ip, "ttl", a.ttl, "set", set)
			}
		}
	}
	if changed && p.dirty != nil {
		select {
		case p.dirty <- struct{}{}:
		default:
		}
	}
}

// answerOwners returns the names whose A and AAAA records answer the query
// for name: name itself and every name its CNAME chain in the answer leads to.
func answerOwners(name string, resp *dns.Msg) map[string]bool {
	owners := map[string]bool{name: true}
	for changed := true; changed; {
		changed = false
		for _, rr := range resp.Answer {
			if c, ok := rr.(*dns.CNAME); ok && owners[strings.ToLower(dns.Fqdn(c.Hdr.Name))] {
				if t := strings.ToLower(dns.Fqdn(c.Target)); !owners[t] {
					owners[t] = true
					changed = true
				}
			}
		}
	}
	return owners
}
