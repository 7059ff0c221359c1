package compile

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	"github.com/metalkube/metalkube/components/firewall/nft"
)

// Config is the firewall host's side of the ruleset.
type Config struct {
	// TableName is the nftables table (family inet) the agent owns.
	TableName string
	// ExternalInterfaces face the outside; InternalInterfaces the cluster.
	ExternalInterfaces []string
	InternalInterfaces []string
	// NodeCIDRs and PodCIDRs are the cluster's networks: egress is only
	// allowed from them, NodePort Services are reached on NodeCIDRs.
	NodeCIDRs []netip.Prefix
	PodCIDRs  []netip.Prefix
	// AllowedIngressNetworks, when set, are the only sources allowed in;
	// AllowedEgressNetworks the only destinations allowed out.
	AllowedIngressNetworks []netip.Prefix
	AllowedEgressNetworks  []netip.Prefix
	// SNAT translates the cluster's egress traffic.
	SNAT []SNAT
	// RateLimits cap the traffic entering an interface.
	RateLimits []RateLimit
	// LogGroup, when non-zero, sends dropped new connections to this nflog group.
	LogGroup uint16
	// FQDN enables egress rules to DNS names (toFQDNs): a DNS proxy fills
	// the rules' address sets. Without it such policies are ignored.
	FQDN bool
	// AgentPorts are the firewall host's own services (the agent's metrics
	// and health ports, the DNS proxy): an input chain lets them answer
	// only on the internal interfaces and loopback.
	AgentPorts []AgentPort
	// MetalStack applies firewall-controller's stricter Service semantics:
	// a NodePort Service opens nothing (see the component README).
	MetalStack bool
}

// AgentPort is a protocol (6 TCP, 17 UDP) and port the host serves on.
type AgentPort struct {
	Proto uint8
	Port  uint16
}

// SNAT translates sources from Sources (default: node and pod CIDRs) leaving
// through Interface to To, or to the interface's address when To is invalid.
type SNAT struct {
	Interface string
	To        netip.Addr
	Sources   []netip.Prefix
}

// RateLimit drops traffic entering Interface beyond BytesPerSecond.
type RateLimit struct {
	Interface      string
	BytesPerSecond uint64
}

// Policy is a policy to compile; Name is namespace/name.
type Policy struct {
	Name string
	Spec v1alpha1.PolicySpec
	// MetalStack compiles the policy with firewall-controller's semantics
	// where they are stricter than metalkube's (metal-stack.io/v1 policies
	// read with --metal-stack-policies); see MetalStackSemantics.
	MetalStack bool
}

// Input is what the ruleset is compiled from.
type Input struct {
	Policies []Policy
	Services []corev1.Service
	// FQDN holds the addresses the DNS proxy resolved, by set name; they are
	// part of the table so that a full apply keeps them.
	FQDN map[string][]FQDNEntry
	// Now is the time FQDN expiries are measured from (zero: time.Now()).
	Now time.Time
}

// FQDNEntry is a resolved address and when it expires.
type FQDNEntry struct {
	IP      netip.Addr
	Expires time.Time
}

// FQDNRule is an egress rule to DNS names: the proxy adds the addresses of
// names matching Selectors to Set4 and Set6.
type FQDNRule struct {
	Counter    string
	Selectors  []v1alpha1.FQDNSelector
	Set4, Set6 string
}

// PolicyResult is the outcome for one policy.
type PolicyResult struct {
	Ignored bool
	Message string
}

// RuleInfo describes a compiled rule and its counter.
type RuleInfo struct {
	// Counter names the rule (policy or service, direction, index) in
	// metrics and status. It is no kernel name: a rule in a verdict map
	// counts in the elements it owns (nft.Element.Owner).
	Counter string
	// Object, for a rule evaluated on its own (an FQDN rule), is the named
	// counter object it counts in: a hash of Counter, short whatever the
	// policy's name.
	Object string
	Source string // policy namespace/name or service namespace/name
	Kind   string // policy or service
	Dir    string // ingress or egress
}

// CounterKey is the key of the rule's count in what nft.Applier.Counters
// returns: its named counter object, or else its own name (the sum over the
// verdict map elements it owns).
func (r RuleInfo) CounterKey() string {
	if r.Object != "" {
		return r.Object
	}
	return r.Counter
}

// Result is a compiled ruleset.
type Result struct {
	Table     *nft.Table
	Rules     []RuleInfo
	Policies  map[string]PolicyResult
	FQDNRules []FQDNRule
}

// Names of the fixed chains and counters.
const (
	ChainForward     = "forward"
	ChainIngress     = "ingress"
	ChainEgress      = "egress"
	ChainPostrouting = "postrouting"

	CounterEstablished    = "established"
	CounterInvalid        = "invalid"
	CounterRateLimited    = "rate-limited"
	CounterDropped        = "dropped"
	CounterDroppedIngress = "dropped-ingress"
	CounterDroppedEgress  = "dropped-egress"
	CounterNotAllowed     = "dropped-not-allowed"
	CounterDroppedInput   = "dropped-input"

	ChainInput    = "input"
	SetAgentPorts = "agent-ports"
)

var (
	full4 = span{u128{}, u128{0, 0xffffffff}}
	full6 = span{u128{}, u128{^uint64(0), ^uint64(0)}}
	anyL4 = span{u128{}, u128{0, 255}}
	anyPt = span{u128{}, u128{0, 65535}}
)

// rule is an allow rule before the key space is cut into disjoint boxes.
type rule struct {
	info  RuleInfo
	boxes [2][]box // per family: 0 IPv4, 1 IPv6
	// fqdn rules match resolved addresses instead (boxes unused)
	fqdn  []v1alpha1.FQDNSelector
	ports []portSpec
}

// Compile compiles in under cfg. It never fails: invalid policies are left
// out and reported.
func Compile(cfg Config, in Input) *Result {
	res := &Result{Policies: map[string]PolicyResult{}}
	cluster := append(append([]netip.Prefix(nil), cfg.NodeCIDRs...), cfg.PodCIDRs...)
	var ingress, egress []rule

	policies := append([]Policy(nil), in.Policies...)
	sort.Slice(policies, func(i, j int) bool { return policies[i].Name < policies[j].Name })
	for _, p := range policies {
		in, eg, err := policyRules(p, cluster, cfg.FQDN)
		if err == nil && p.MetalStack {
			in, eg, err = metalStackRules(p, in, eg)
		}
		if err != nil {
			res.Policies[p.Name] = PolicyResult{Ignored: true, Message: err.Error()}
			continue
		}
		res.Policies[p.Name] = PolicyResult{}
		ingress = append(ingress, in...)
		egress = append(egress, eg...)
	}
	services := append([]corev1.Service(nil), in.Services...)
	sort.Slice(services, func(i, j int) bool {
		return services[i].Namespace+"/"+services[i].Name < services[j].Namespace+"/"+services[j].Name
	})
	for _, s := range services {
		if cfg.MetalStack && s.Spec.Type == corev1.ServiceTypeNodePort {
			continue // firewall-controller opens no node port
		}
		if r, ok := serviceRule(s, cfg.NodeCIDRs); ok {
			ingress = append(ingress, r)
		}
	}
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	res.Table = build(cfg, cluster, ingress, egress)
	for _, r := range append(ingress, egress...) {
		res.Rules = append(res.Rules, r.info)
	}
	addFQDN(res, cfg, cluster, egress, in.FQDN, now)
	return res
}

// Per-policy size caps. A policy over one is ignored with the reason; the
// rest of the ruleset applies. The list caps are also CRD validation
// (MaxItems); MaxPolicyElements, the product of a policy's address ranges and
// ports, is checked here only. They keep one policy's kernel cost well under
// the one second in which any change must reach the kernel: 4,096 elements
// load in about 20 ms, where the 100,000 of 2,000 CIDRs x 50 ports took 79 s
// (as goto chains) and would still hold every other change behind them.
const (
	MaxRules          = 64   // ingress plus egress rules of a policy
	MaxBlocks         = 256  // from or to entries of a rule
	MaxExcept         = 64   // except entries of one block
	MaxPorts          = 64   // ports of a rule
	MaxFQDNSelectors  = 32   // toFQDNs entries of a rule
	MaxPolicyElements = 4096 // key ranges (address ranges x ports, per family) of a policy
)

// checkCaps returns why a policy is over the caps, or nil.
func checkCaps(p Policy) (err error) {
	if n := len(p.Spec.Ingress) + len(p.Spec.Egress); n > MaxRules {
		return fmt.Errorf("%d rules: more than %d", n, MaxRules)
	}
	blocks := func(what string, bs []networkingv1.IPBlock) error {
		if len(bs) > MaxBlocks {
			return fmt.Errorf("%s: %d entries: more than %d", what, len(bs), MaxBlocks)
		}
		for j, b := range bs {
			if len(b.Except) > MaxExcept {
				return fmt.Errorf("%s[%d].except: %d entries: more than %d", what, j, len(b.Except), MaxExcept)
			}
		}
		return nil
	}
	ports := func(what string, ps []networkingv1.NetworkPolicyPort) error {
		if len(ps) > MaxPorts {
			return fmt.Errorf("%s.ports: %d entries: more than %d", what, len(ps), MaxPorts)
		}
		return nil
	}
	// a bound on the key ranges before any is built: blocks (each except
	// adds at most one range) x ports; the exact count is checked after
	bound := 0
	size := func(bs []networkingv1.IPBlock, ps []networkingv1.NetworkPolicyPort) {
		n := max(len(bs), 1)
		for _, b := range bs {
			n += len(b.Except)
		}
		bound += 2 * n * max(len(ps), 1) // 2: both families where a rule has no blocks
	}
	defer func() {
		if err == nil && bound > 16*MaxPolicyElements {
			err = fmt.Errorf("about %d address ranges x ports, more than %d", bound, MaxPolicyElements)
		}
	}()
	for i, r := range p.Spec.Ingress {
		what := fmt.Sprintf("ingress[%d]", i)
		if err := errors.Join(ports(what, r.Ports), blocks(what+".from", r.From)); err != nil {
			return err
		}
		size(r.From, r.Ports)
	}
	for i, r := range p.Spec.Egress {
		what := fmt.Sprintf("egress[%d]", i)
		if err := errors.Join(ports(what, r.Ports), blocks(what+".to", r.To)); err != nil {
			return err
		}
		if len(r.ToFQDNs) > MaxFQDNSelectors {
			return fmt.Errorf("%s.toFQDNs: %d entries: more than %d", what, len(r.ToFQDNs), MaxFQDNSelectors)
		}
		size(r.To, r.Ports)
	}
	return nil
}

// elements counts a policy's key ranges, what its rules ask of the kernel.
func elements(rules ...[]rule) int {
	n := 0
	for _, rs := range rules {
		for _, r := range rs {
			n += len(r.boxes[0]) + len(r.boxes[1])
		}
	}
	return n
}

func policyRules(p Policy, cluster []netip.Prefix, fqdn bool) (in, eg []rule, err error) {
	if err := checkCaps(p); err != nil {
		return nil, nil, fmt.Errorf("over the size caps: %w", err)
	}
	defer func() {
		if n := elements(in, eg); err == nil && n > MaxPolicyElements {
			in, eg, err = nil, nil, fmt.Errorf("over the size caps: %d address ranges x ports, more than %d", n, MaxPolicyElements)
		}
	}()
	for i, r := range p.Spec.Ingress {
		ports, err := parsePorts(r.Ports)
		if err != nil {
			return nil, nil, fmt.Errorf("ingress[%d]: %w", i, err)
		}
		src, err := parseBlocks(r.From, p.MetalStack)
		if err != nil {
			return nil, nil, fmt.Errorf("ingress[%d].from: %w", i, err)
		}
		info := RuleInfo{Counter: counterName("cwnp", p.Name, fmt.Sprintf("ingress-%d", i)), Source: p.Name, Kind: "policy", Dir: "ingress"}
		in = append(in, makeRule(info, src, nil, ports))
	}
	for i, r := range p.Spec.Egress {
		ports, err := parsePorts(r.Ports)
		if err != nil {
			return nil, nil, fmt.Errorf("egress[%d]: %w", i, err)
		}
		if len(r.ToFQDNs) > 0 {
			if len(r.To) > 0 {
				return nil, nil, fmt.Errorf("egress[%d]: to and toFQDNs exclude each other", i)
			}
			if !fqdn {
				return nil, nil, fmt.Errorf("egress[%d].toFQDNs: the agent runs without its DNS proxy (--dns-proxy-address)", i)
			}
			for j, sel := range r.ToFQDNs {
				if err := validSelector(sel); err != nil {
					return nil, nil, fmt.Errorf("egress[%d].toFQDNs[%d]: %w", i, j, err)
				}
			}
			info := RuleInfo{Counter: counterName("cwnp", p.Name, fmt.Sprintf("egress-%d", i)), Source: p.Name, Kind: "policy", Dir: "egress"}
			info.Object = KernelName("fqdn", info.Counter)
			eg = append(eg, rule{info: info, fqdn: r.ToFQDNs, ports: ports})
			continue
		}
		dst, err := parseBlocks(r.To, p.MetalStack)
		if err != nil {
			return nil, nil, fmt.Errorf("egress[%d].to: %w", i, err)
		}
		var src [2][]span
		if len(cluster) > 0 {
			src = prefixSpans(cluster)
		}
		info := RuleInfo{Counter: counterName("cwnp", p.Name, fmt.Sprintf("egress-%d", i)), Source: p.Name, Kind: "policy", Dir: "egress"}
		eg = append(eg, makeRuleSpans(info, src, len(cluster) > 0, dst, ports))
	}
	return in, eg, nil
}

// portSpec is a protocol and a port range.
type portSpec struct {
	proto  uint8
	lo, hi uint16
}

func parsePorts(ports []networkingv1.NetworkPolicyPort) ([]portSpec, error) {
	var out []portSpec
	for i, p := range ports {
		proto := uint8(6)
		if p.Protocol != nil {
			switch *p.Protocol {
			case corev1.ProtocolTCP:
			case corev1.ProtocolUDP:
				proto = 17
			default:
				return nil, fmt.Errorf("ports[%d]: unsupported protocol %q (TCP and UDP are)", i, *p.Protocol)
			}
		}
		if p.Port == nil {
			if p.EndPort != nil {
				return nil, fmt.Errorf("ports[%d]: endPort %d without port", i, *p.EndPort)
			}
			out = append(out, portSpec{proto, 0, 65535})
			continue
		}
		if p.Port.Type == intstr.String {
			return nil, fmt.Errorf("ports[%d]: named port %q is not supported on a firewall", i, p.Port.StrVal)
		}
		port := p.Port.IntVal
		if port < 1 || port > 65535 {
			return nil, fmt.Errorf("ports[%d]: port %d out of range 1-65535", i, port)
		}
		end := port
		if p.EndPort != nil {
			end = *p.EndPort
			if end < port {
				return nil, fmt.Errorf("ports[%d]: endPort %d is below port %d", i, end, port)
			}
			if end > 65535 {
				return nil, fmt.Errorf("ports[%d]: endPort %d out of range 1-65535", i, end)
			}
		}
		out = append(out, portSpec{proto, uint16(port), uint16(end)})
	}
	return out, nil
}

// parseBlocks returns the spans per family covered by the blocks; a nil
// result means "any".
//
// With pooled (firewall-controller's semantics) every except of the rule
// applies to every block: firewall-controller renders all of a rule's
// excepts as one "saddr != { ... }" beside all its blocks.
func parseBlocks(blocks []networkingv1.IPBlock, pooled bool) (*[2][]span, error) {
	if len(blocks) == 0 {
		return nil, nil
	}
	var out [2][]span
	for i, b := range blocks {
		p, err := netip.ParsePrefix(b.CIDR)
		if err != nil {
			return nil, fmt.Errorf("[%d]: invalid CIDR %q: %v", i, b.CIDR, err)
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("[%d]: invalid CIDR %q: host bits set (did you mean %s?)", i, b.CIDR, p.Masked())
		}
		fam := family(p)
		spans := []span{prefixSpan(p)}
		for j, e := range b.Except {
			ep, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("[%d].except[%d]: invalid CIDR %q: %v", i, j, e, err)
			}
			if family(ep) != fam || !p.Contains(ep.Addr()) || ep.Bits() < p.Bits() {
				return nil, fmt.Errorf("[%d].except[%d]: %s is not inside %s", i, j, e, b.CIDR)
			}
			spans = subtract(spans, prefixSpan(ep.Masked()))
		}
		out[fam] = append(out[fam], spans...)
	}
	if pooled {
		for _, b := range blocks {
			for _, e := range b.Except {
				ep := netip.MustParsePrefix(e) // checked above
				fam := family(ep)
				out[fam] = subtract(out[fam], prefixSpan(ep.Masked()))
			}
		}
	}
	return &out, nil
}

// metalStackRules applies firewall-controller's semantics where they are
// stricter: a rule without ports allows nothing (firewall-controller
// renders a rule per protocol with ports only), an egress rule without to
// (and toFQDNs) allows nothing, and a port entry with a protocol but no port
// is refused (firewall-controller renders "dport { <nil> }", which nft
// rejects, failing the whole ruleset).
func metalStackRules(p Policy, in, eg []rule) ([]rule, []rule, error) {
	for i, r := range p.Spec.Ingress {
		if err := metalStackPorts(r.Ports); err != nil {
			return nil, nil, fmt.Errorf("ingress[%d]: %w", i, err)
		}
	}
	for i, r := range p.Spec.Egress {
		if err := metalStackPorts(r.Ports); err != nil {
			return nil, nil, fmt.Errorf("egress[%d]: %w", i, err)
		}
	}
	keepIn := in[:0]
	for i, r := range in {
		if len(p.Spec.Ingress[i].Ports) > 0 {
			keepIn = append(keepIn, r)
		}
	}
	keepEg := eg[:0]
	for i, r := range eg {
		e := p.Spec.Egress[i]
		if len(e.Ports) > 0 && (len(e.To) > 0 || len(e.ToFQDNs) > 0) {
			keepEg = append(keepEg, r)
		}
	}
	return keepIn, keepEg, nil
}

func metalStackPorts(ports []networkingv1.NetworkPolicyPort) error {
	for j, pp := range ports {
		if pp.Port == nil {
			return fmt.Errorf("ports[%d]: a protocol without a port (metal-stack semantics: firewall-controller cannot render it)", j)
		}
	}
	return nil
}

func family(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 0
	}
	return 1
}

func prefixSpan(p netip.Prefix) span {
	p = p.Masked()
	lo := p.Addr().AsSlice()
	hi := append([]byte(nil), lo...)
	for i := p.Bits(); i < len(hi)*8; i++ {
		hi[i/8] |= 1 << (7 - i%8)
	}
	return span{u128From(lo), u128From(hi)}
}

func prefixSpans(ps []netip.Prefix) [2][]span {
	var out [2][]span
	for _, p := range ps {
		out[family(p)] = append(out[family(p)], prefixSpan(p))
	}
	return out
}

// subtract removes x from every span.
func subtract(spans []span, x span) []span {
	var out []span
	for _, s := range spans {
		if s.hi.less(x.lo) || x.hi.less(s.lo) {
			out = append(out, s)
			continue
		}
		if s.lo.less(x.lo) {
			out = append(out, span{s.lo, x.lo.dec()})
		}
		if x.hi.less(s.hi) {
			out = append(out, span{x.hi.inc2(), s.hi})
		}
	}
	return out
}

// makeRule builds an ingress-style rule: sources (nil: any), destinations
// (nil: any), ports (none: any).
func makeRule(info RuleInfo, src, dst *[2][]span, ports []portSpec) rule {
	var s [2][]span
	if src != nil {
		s = *src
	}
	return makeRuleSpans(info, s, src != nil, dst, ports)
}

func makeRuleSpans(info RuleInfo, src [2][]span, srcSet bool, dst *[2][]span, ports []portSpec) rule {
	r := rule{info: info}
	full := [2]span{full4, full6}
	for fam := 0; fam < 2; fam++ {
		srcs := src[fam]
		if !srcSet {
			srcs = []span{full[fam]}
		}
		dsts := []span{full[fam]}
		if dst != nil {
			dsts = dst[fam]
		}
		pp := []span{anyL4, anyPt}
		for _, s := range srcs {
			for _, d := range dsts {
				if len(ports) == 0 {
					r.boxes[fam] = append(r.boxes[fam], box{s: []span{pp[0], pp[1], s, d}})
				}
				for _, p := range ports {
					r.boxes[fam] = append(r.boxes[fam], box{s: []span{
						{u128{0, uint64(p.proto)}, u128{0, uint64(p.proto)}},
						{u128{0, uint64(p.lo)}, u128{0, uint64(p.hi)}}, s, d}})
				}
			}
		}
	}
	return r
}

// sourceRangesAnnotation is Kubernetes' older way to set a LoadBalancer's
// source ranges; spec.loadBalancerSourceRanges wins when both are set.
const sourceRangesAnnotation = "service.beta.kubernetes.io/load-balancer-source-ranges"

// serviceRule allows traffic to a LoadBalancer's ingress IPs on its ports
// from its loadBalancerSourceRanges (default: anywhere), and to a NodePort
// Service's node ports on the node networks.
func serviceRule(s corev1.Service, nodeCIDRs []netip.Prefix) (rule, bool) {
	info := RuleInfo{Counter: counterName("svc", s.Namespace+"/"+s.Name, ""), Source: s.Namespace + "/" + s.Name, Kind: "service", Dir: "ingress"}
	var src *[2][]span
	ranges := s.Spec.LoadBalancerSourceRanges
	if len(ranges) == 0 && s.Annotations[sourceRangesAnnotation] != "" {
		ranges = strings.Split(s.Annotations[sourceRangesAnnotation], ",")
	}
	if len(ranges) > 0 {
		var spans [2][]span
		for _, r := range ranges {
			p, err := netip.ParsePrefix(strings.TrimSpace(r))
			if err != nil {
				continue // the API server validates these; skip what we cannot read
			}
			spans[family(p)] = append(spans[family(p)], prefixSpan(p))
		}
		src = &spans
	}
	r := rule{info: info}
	add := func(dst [2][]span, port func(corev1.ServicePort) int32) {
		var ports []portSpec
		for _, p := range s.Spec.Ports {
			proto := uint8(6)
			switch p.Protocol {
			case corev1.ProtocolUDP:
				proto = 17
			case corev1.ProtocolSCTP:
				proto = 132
			}
			if n := port(p); n > 0 {
				ports = append(ports, portSpec{proto, uint16(n), uint16(n)})
			}
		}
		if len(ports) == 0 {
			return
		}
		sub := makeRule(info, src, &dst, ports)
		r.boxes[0] = append(r.boxes[0], sub.boxes[0]...)
		r.boxes[1] = append(r.boxes[1], sub.boxes[1]...)
	}
	switch s.Spec.Type {
	case corev1.ServiceTypeLoadBalancer:
		var ips []netip.Prefix
		for _, ing := range s.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(ing.IP); err == nil {
				ips = append(ips, netip.PrefixFrom(a, a.BitLen()))
			}
		}
		add(prefixSpans(ips), func(p corev1.ServicePort) int32 { return p.Port })
	case corev1.ServiceTypeNodePort:
		add(prefixSpans(nodeCIDRs), func(p corev1.ServicePort) int32 { return p.NodePort })
	default:
		return rule{}, false
	}
	return r, len(r.boxes[0])+len(r.boxes[1]) > 0
}

// KernelName derives a kernel object name from a rule's name: prefix, '-'
// and 16 hex digits of the name's SHA-256. Policy names reach 253
// characters and the kernel's names end at 255 bytes, so no kernel name
// contains a policy's name; the mapping back is RuleInfo.
func KernelName(prefix, name string) string {
	sum := sha256.Sum256([]byte(name))
	return prefix + "-" + hex.EncodeToString(sum[:8])
}

// counterName names a rule after its policy or service (metrics, status).
func counterName(kind, name, suffix string) string {
	n := kind + "." + strings.ReplaceAll(name, "/", ".")
	if suffix != "" {
		n += "." + suffix
	}
	return n
}

// addrField and addrKey are the single address fields (source, destination).
var (
	addrField = [2][2]nft.Field{{nft.IPSaddr, nft.IPDaddr}, {nft.IP6Saddr, nft.IP6Daddr}}
	addrKey   = [2]nft.KeyType{nft.IPv4Addr, nft.IPv6Addr}
)

var famSuffix = [2]string{"4", "6"}

func build(cfg Config, cluster []netip.Prefix, ingress, egress []rule) *nft.Table {
	t := &nft.Table{Name: cfg.TableName}
	t.Counters = []string{CounterEstablished, CounterInvalid, CounterDropped, CounterDroppedIngress, CounterDroppedEgress}
	fwd := &nft.Chain{Name: ChainForward, Hook: &nft.Hook{Type: "filter", Hook: "forward", Priority: 0, Policy: "drop"}}
	if len(cfg.RateLimits) > 0 {
		t.Counters = append(t.Counters, CounterRateLimited)
	}
	for _, rl := range cfg.RateLimits {
		fwd.Rules = append(fwd.Rules, nft.Rule{Stmts: []nft.Stmt{nft.IfName{Name: rl.Interface}, nft.LimitOver{BytesPerSecond: rl.BytesPerSecond},
			nft.Counter{Name: CounterRateLimited}, nft.Drop}, Comment: "rate limit " + rl.Interface})
	}
	fwd.Rules = append(fwd.Rules,
		nft.Rule{Stmts: []nft.Stmt{nft.CtState{States: []string{"established", "related"}}, nft.Counter{Name: CounterEstablished}, nft.Accept}},
		nft.Rule{Stmts: []nft.Stmt{nft.CtState{States: []string{"invalid"}}, nft.Counter{Name: CounterInvalid}, nft.Drop}})
	for _, i := range cfg.ExternalInterfaces {
		fwd.Rules = append(fwd.Rules, nft.Rule{Stmts: []nft.Stmt{nft.IfName{Name: i}, nft.Jump(ChainIngress)}})
	}
	for _, i := range cfg.InternalInterfaces {
		fwd.Rules = append(fwd.Rules, nft.Rule{Stmts: []nft.Stmt{nft.IfName{Name: i}, nft.Jump(ChainEgress)}})
	}
	fwd.Rules = append(fwd.Rules, dropRule(cfg, CounterDropped, "metalkube-drop: "))
	t.Chains = append(t.Chains, fwd)

	allowed := func(name string, nets []netip.Prefix, f [2]nft.Field) []nft.Rule {
		if len(nets) == 0 {
			return nil
		}
		var rules []nft.Rule
		spans := prefixSpans(nets)
		for fam := 0; fam < 2; fam++ {
			set := &nft.Set{Name: name + famSuffix[fam], Key: []nft.KeyType{addrKey[fam]}, Interval: true}
			for _, s := range merge(spans[fam]) {
				set.Elements = append(set.Elements, nft.Element{Key: []nft.Range{rangeOf(s, addrKey[fam])}})
			}
			t.Sets = append(t.Sets, set)
			rules = append(rules, nft.Rule{Stmts: []nft.Stmt{nft.Lookup{Fields: []nft.Field{f[fam]}, Set: set.Name, Negate: true},
				nft.Counter{Name: CounterNotAllowed}, nft.Drop}})
		}
		return rules
	}
	if len(cfg.AllowedIngressNetworks)+len(cfg.AllowedEgressNetworks) > 0 {
		t.Counters = append(t.Counters, CounterNotAllowed)
	}
	for _, dir := range []struct {
		chain, counter string
		rules          []rule
		allowed        []nft.Rule
	}{
		{ChainIngress, CounterDroppedIngress, ingress, allowed("allowed-ingress", cfg.AllowedIngressNetworks, [2]nft.Field{nft.IPSaddr, nft.IP6Saddr})},
		{ChainEgress, CounterDroppedEgress, egress, allowed("allowed-egress", cfg.AllowedEgressNetworks, [2]nft.Field{nft.IPDaddr, nft.IP6Daddr})},
	} {
		c := &nft.Chain{Name: dir.chain, Rules: dir.allowed}
		for fam := 0; fam < 2; fam++ {
			var boxes []box
			for i, r := range dir.rules {
				for _, b := range r.boxes[fam] {
					boxes = append(boxes, box{s: b.s, owner: i})
				}
			}
			for _, m := range verdictMaps(dir.chain, fam, disjoint(boxes), dir.rules) {
				t.Sets = append(t.Sets, m.set)
				var stmts []nft.Stmt
				if m.ports != nil {
					if t.Set(m.ports.Name) == nil {
						t.Sets = append(t.Sets, m.ports)
					}
					stmts = append(stmts, nft.Lookup{Fields: []nft.Field{nft.L4Proto, nft.THDport}, Set: m.ports.Name})
				}
				c.Rules = append(c.Rules, nft.Rule{Stmts: append(stmts, nft.VMap{Fields: m.fields, Map: m.set.Name})})
			}
		}
		c.Rules = append(c.Rules, dropRule(cfg, dir.counter, "metalkube-drop "+dir.chain+": "))
		t.Chains = append(t.Chains, c)
	}
	if len(cfg.AgentPorts) > 0 {
		t.Chains = append(t.Chains, inputChain(t, cfg))
	}
	if len(cfg.SNAT) > 0 {
		post := &nft.Chain{Name: ChainPostrouting, Hook: &nft.Hook{Type: "nat", Hook: "postrouting", Priority: 100, Policy: "accept"}}
		for i, s := range cfg.SNAT {
			src := s.Sources
			if len(src) == 0 {
				src = cluster
			}
			spans := prefixSpans(src)
			for fam := 0; fam < 2; fam++ {
				if len(spans[fam]) == 0 || s.To.IsValid() && family(netip.PrefixFrom(s.To, 0)) != fam {
					continue
				}
				set := &nft.Set{Name: fmt.Sprintf("snat-%d-%s", i, famSuffix[fam]), Key: []nft.KeyType{addrKey[fam]}, Interval: true}
				for _, sp := range merge(spans[fam]) {
					set.Elements = append(set.Elements, nft.Element{Key: []nft.Range{rangeOf(sp, addrKey[fam])}})
				}
				t.Sets = append(t.Sets, set)
				var nat nft.Stmt = nft.Masquerade{}
				if s.To.IsValid() {
					nat = nft.SNAT{Addr: s.To}
				}
				post.Rules = append(post.Rules, nft.Rule{Stmts: []nft.Stmt{nft.IfName{Out: true, Name: s.Interface},
					nft.Lookup{Fields: []nft.Field{addrField[fam][0]}, Set: set.Name}, nat}})
			}
		}
		t.Chains = append(t.Chains, post)
	}
	t.Sort()
	return t
}

// inputChain lets the agent's ports answer on the internal interfaces and
// loopback only; everything else addressed to the host is left alone.
func inputChain(t *nft.Table, cfg Config) *nft.Chain {
	set := &nft.Set{Name: SetAgentPorts, Key: []nft.KeyType{nft.InetProto, nft.InetService}}
	for _, p := range cfg.AgentPorts {
		set.Elements = append(set.Elements, nft.Element{Key: []nft.Range{
			rangeOf(span{u128{0, uint64(p.Proto)}, u128{0, uint64(p.Proto)}}, nft.InetProto),
			rangeOf(span{u128{0, uint64(p.Port)}, u128{0, uint64(p.Port)}}, nft.InetService)}})
	}
	t.Sets = append(t.Sets, set)
	t.Counters = append(t.Counters, CounterDroppedInput)
	c := &nft.Chain{Name: ChainInput, Hook: &nft.Hook{Type: "filter", Hook: "input", Priority: 0, Policy: "accept"}}
	c.Rules = append(c.Rules, nft.Rule{Stmts: []nft.Stmt{nft.Lookup{Fields: []nft.Field{nft.L4Proto, nft.THDport}, Set: SetAgentPorts, Negate: true}, nft.Accept}})
	for _, i := range append([]string{"lo"}, cfg.InternalInterfaces...) {
		c.Rules = append(c.Rules, nft.Rule{Stmts: []nft.Stmt{nft.IfName{Name: i}, nft.Accept}})
	}
	c.Rules = append(c.Rules, nft.Rule{Stmts: []nft.Stmt{nft.Counter{Name: CounterDroppedInput}, nft.Drop}, Comment: "agent ports answer on internal interfaces only"})
	return c
}

// FailClosed is the table an agent installs at start, before it has read
// any policy, where the kernel has none of its own yet: forwarded traffic is
// dropped (and, with AgentPorts, the agent's ports closed to the outside)
// until the first ruleset replaces it.
func FailClosed(cfg Config) *nft.Table {
	t := &nft.Table{Name: cfg.TableName, Counters: []string{CounterDropped}}
	t.Chains = append(t.Chains, &nft.Chain{Name: ChainForward, Hook: &nft.Hook{Type: "filter", Hook: "forward", Priority: 0, Policy: "drop"},
		Rules: []nft.Rule{{Stmts: []nft.Stmt{nft.Counter{Name: CounterDropped}, nft.Drop}, Comment: "fail closed: no ruleset applied yet"}}})
	if len(cfg.AgentPorts) > 0 {
		t.Chains = append(t.Chains, inputChain(t, cfg))
	}
	t.Sort()
	return t
}

func dropRule(cfg Config, counter, prefix string) nft.Rule {
	stmts := []nft.Stmt{nft.Counter{Name: counter}}
	if cfg.LogGroup != 0 {
		stmts = append(stmts, nft.Log{Prefix: prefix, Group: cfg.LogGroup})
	}
	return nft.Rule{Stmts: append(stmts, nft.Drop)}
}

func rangeOf(s span, k nft.KeyType) nft.Range {
	return nft.Range{Lo: s.lo.bytes(k.Len()), Hi: s.hi.bytes(k.Len())}
}

// merge sorts spans and joins overlapping and adjacent ones.
func merge(spans []span) []span {
	s := append([]span(nil), spans...)
	sort.Slice(s, func(i, j int) bool { return s[i].lo.less(s[j].lo) })
	var out []span
	for _, x := range s {
		if n := len(out); n > 0 {
			next, ok := out[n-1].hi.inc()
			if !ok { // the previous span reaches the end
				continue
			}
			if next.less(x.lo) {
				out = append(out, x)
				continue
			}
			if out[n-1].hi.less(x.hi) {
				out[n-1].hi = x.hi
			}
			continue
		}
		out = append(out, x)
	}
	return out
}

var (
	namePattern    = regexp.MustCompile(`^([-a-zA-Z0-9_]+[.]?)+$`)
	patternPattern = regexp.MustCompile(`^([-a-zA-Z0-9_*]+[.]?)+$`)
)

func validSelector(s v1alpha1.FQDNSelector) error {
	switch {
	case s.MatchName != "" && s.MatchPattern != "":
		return fmt.Errorf("matchName and matchPattern exclude each other")
	case s.MatchName != "":
		if !namePattern.MatchString(s.MatchName) {
			return fmt.Errorf("invalid matchName %q", s.MatchName)
		}
	case s.MatchPattern != "":
		if !patternPattern.MatchString(s.MatchPattern) {
			return fmt.Errorf("invalid matchPattern %q", s.MatchPattern)
		}
	default:
		return fmt.Errorf("one of matchName and matchPattern is required")
	}
	return nil
}

// addFQDN adds the sets and rules of egress rules to DNS names: for each
// rule an address set per family with timeouts (filled by the DNS proxy, and
// here from its cache), a port set, and a rule in the egress chain ahead of
// the verdict maps. These rules are evaluated one by one: FQDN rules are few.
func addFQDN(res *Result, cfg Config, cluster []netip.Prefix, egress []rule, cache map[string][]FQDNEntry, now time.Time) {
	t := res.Table
	var rules []nft.Rule
	clusterSets := [2]string{}
	for _, r := range egress {
		if r.fqdn == nil {
			continue
		}
		if clusterSets[0] == "" && len(cluster) > 0 {
			spans := prefixSpans(cluster)
			for fam := 0; fam < 2; fam++ {
				set := &nft.Set{Name: "cluster" + famSuffix[fam], Key: []nft.KeyType{addrKey[fam]}, Interval: true}
				for _, sp := range merge(spans[fam]) {
					set.Elements = append(set.Elements, nft.Element{Key: []nft.Range{rangeOf(sp, addrKey[fam])}})
				}
				t.Sets = append(t.Sets, set)
				clusterSets[fam] = set.Name
			}
		}
		fr := FQDNRule{Counter: r.info.Counter, Selectors: r.fqdn, Set4: r.info.Object + "-4", Set6: r.info.Object + "-6"}
		t.Counters = append(t.Counters, r.info.Object)
		res.FQDNRules = append(res.FQDNRules, fr)
		var portSet string
		if len(r.ports) > 0 {
			ps := &nft.Set{Name: r.info.Object + "-ports", Key: []nft.KeyType{nft.InetProto, nft.InetService}, Interval: true}
			for _, p := range r.ports {
				ps.Elements = append(ps.Elements, nft.Element{Key: []nft.Range{
					rangeOf(span{u128{0, uint64(p.proto)}, u128{0, uint64(p.proto)}}, nft.InetProto),
					rangeOf(span{u128{0, uint64(p.lo)}, u128{0, uint64(p.hi)}}, nft.InetService)}})
			}
			t.Sets = append(t.Sets, ps)
			portSet = ps.Name
		}
		for fam, name := range []string{fr.Set4, fr.Set6} {
			set := &nft.Set{Name: name, Key: []nft.KeyType{addrKey[fam]}, Timeout: true}
			for _, e := range cache[name] {
				if left := e.Expires.Sub(now).Round(time.Second); left >= time.Second && (e.IP.Is4() == (fam == 0)) {
					set.Elements = append(set.Elements, nft.Element{Key: []nft.Range{{Lo: e.IP.AsSlice(), Hi: e.IP.AsSlice()}}, Timeout: left})
				}
			}
			t.Sets = append(t.Sets, set)
			var stmts []nft.Stmt
			if clusterSets[fam] != "" {
				stmts = append(stmts, nft.Lookup{Fields: []nft.Field{addrField[fam][0]}, Set: clusterSets[fam]})
			}
			stmts = append(stmts, nft.Lookup{Fields: []nft.Field{addrField[fam][1]}, Set: name})
			if portSet != "" {
				stmts = append(stmts, nft.Lookup{Fields: []nft.Field{nft.L4Proto, nft.THDport}, Set: portSet})
			}
			rules = append(rules, nft.Rule{Stmts: append(stmts, nft.Counter{Name: r.info.Object}, nft.Accept)})
		}
	}
	if len(rules) == 0 {
		return
	}
	// after the allowed-network checks, before the verdict maps and the
	// closing drop rule
	eg := t.Chain(ChainEgress)
	at := 0
	for at < len(eg.Rules)-1 {
		if _, ok := eg.Rules[at].Stmts[0].(nft.VMap); ok {
			break
		}
		at++
	}
	eg.Rules = append(eg.Rules[:at:at], append(rules, eg.Rules[at:]...)...)
	t.Sort()
}
