package app

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	"github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/fqdn"
	"github.com/metalkube/metalkube/shared/component"
)

// Flag names.
const (
	FlagExternalInterfaces     = "external-interfaces"
	FlagInternalInterfaces     = "internal-interfaces"
	FlagNodeCIDRs              = "node-cidrs"
	FlagPodCIDRs               = "pod-cidrs"
	FlagAllowedIngressNetworks = "allowed-ingress-networks"
	FlagAllowedEgressNetworks  = "allowed-egress-networks"
	FlagSNAT                   = "snat"
	FlagRateLimits             = "rate-limits"
	FlagLogGroup               = "log-group"
	FlagTableName              = "table-name"
	FlagPolicyNamespace        = "policy-namespace"
	FlagMetalStackPolicies     = "metal-stack-policies"
	FlagFirewallName           = "firewall-name"
	FlagResyncInterval         = "resync-interval"
	FlagSuricataSocket         = "suricata-socket"
	FlagDNSProxyAddress        = "dns-proxy-address"
	FlagDNSUpstream            = "dns-upstream"
	FlagFQDNStateFile          = "fqdn-state-file"
	FlagFQDNMinTTL             = "fqdn-min-ttl"
	FlagFQDNMaxTTL             = "fqdn-max-ttl"
	FlagFQDNMaxEntries         = "fqdn-max-entries"
	FlagNetNS                  = "netns"
	FlagDryRun                 = "dry-run"
	FlagPolicyFile             = "policy-file"
	FlagFailClosed             = "fail-closed"
)

// Name is the component's name: its command and logger.
const Name = "firewall"

// Options are the agent's flags.
type Options struct {
	// Runtime are the runtime flags; the agent runs once per firewall host,
	// without leader election.
	Runtime                *component.Options
	ExternalInterfaces     []string
	InternalInterfaces     []string
	NodeCIDRs              []string
	PodCIDRs               []string
	AllowedIngressNetworks []string
	AllowedEgressNetworks  []string
	SNAT                   []string
	RateLimits             []string
	LogGroup               uint16
	TableName              string
	PolicyNamespace        string
	MetalStackPolicies     bool
	FirewallName           string
	ResyncInterval         time.Duration
	SuricataSocket         string
	DNSProxyAddress        string
	DNSUpstream            string
	FQDNStateFile          string
	FQDNMinTTL             time.Duration
	FQDNMaxTTL             time.Duration
	FQDNMaxEntries         int
	NetNS                  string
	DryRun                 bool
	PolicyFiles            []string
	FailClosed             bool
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	rt := component.NewOptions(Name)
	rt.Manager.LeaderElect = false
	rt.Manager.MetricsBindAddress = ":2112"
	// Policy statuses are the agent's bulk writes: 10,000 policies at
	// client-go's default 5 requests/s took half an hour. 50/s writes them in
	// minutes, off the apply path, without letting one firewall flood the
	// API server.
	rt.REST.QPS, rt.REST.Burst = 50, 100
	return &Options{
		Runtime:         rt,
		TableName:       "metalkube",
		PolicyNamespace: v1alpha1.DefaultNamespace,
		ResyncInterval:  10 * time.Second,
		LogGroup:        100,
		SuricataSocket:  "/run/suricata-command.socket",
		FQDNStateFile:   "/var/lib/metalkube/firewall/fqdn-state.json",
		FQDNMinTTL:      time.Minute,
		FQDNMaxTTL:      fqdn.DefaultMaxTTL,
		FQDNMaxEntries:  fqdn.DefaultMaxEntries,
		FailClosed:      true,
	}
}

// AddFlags binds the options to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.Runtime.AddFlags(fs)
	fs.StringSliceVar(&o.ExternalInterfaces, FlagExternalInterfaces, o.ExternalInterfaces, "interfaces facing the outside (ingress enters here)")
	fs.StringSliceVar(&o.InternalInterfaces, FlagInternalInterfaces, o.InternalInterfaces, "interfaces facing the cluster (egress enters here)")
	fs.StringSliceVar(&o.NodeCIDRs, FlagNodeCIDRs, o.NodeCIDRs, "the cluster's node networks (IPv4 and IPv6)")
	fs.StringSliceVar(&o.PodCIDRs, FlagPodCIDRs, o.PodCIDRs, "the cluster's pod networks, if routed")
	fs.StringSliceVar(&o.AllowedIngressNetworks, FlagAllowedIngressNetworks, o.AllowedIngressNetworks, "if set, the only source networks allowed in (a family with none listed is blocked)")
	fs.StringSliceVar(&o.AllowedEgressNetworks, FlagAllowedEgressNetworks, o.AllowedEgressNetworks, "if set, the only destination networks allowed out (a family with none listed is blocked)")
	fs.StringSliceVar(&o.SNAT, FlagSNAT, o.SNAT, "source NAT for egress: INTERFACE=ADDRESS, or INTERFACE to masquerade")
	fs.StringSliceVar(&o.RateLimits, FlagRateLimits, o.RateLimits, "per-interface rate limits: INTERFACE=MBITS (megabits per second)")
	fs.Uint16Var(&o.LogGroup, FlagLogGroup, o.LogGroup, "nflog group dropped packets are logged to (0: do not log)")
	fs.StringVar(&o.TableName, FlagTableName, o.TableName, "the nftables table (family inet) the agent owns")
	fs.StringVar(&o.PolicyNamespace, FlagPolicyNamespace, o.PolicyNamespace, "namespace of the ClusterwideNetworkPolicies")
	fs.BoolVar(&o.MetalStackPolicies, FlagMetalStackPolicies, o.MetalStackPolicies, "also read metal-stack.io/v1 ClusterwideNetworkPolicies, compiled with firewall-controller's semantics where those are stricter; NodePort Services then open nothing (see the README's compatibility table)")
	fs.StringVar(&o.FirewallName, FlagFirewallName, o.FirewallName, "name of this firewall's FirewallStatus object; when not given, this host's name (--"+FlagFirewallName+"= for none)")
	fs.DurationVar(&o.ResyncInterval, FlagResyncInterval, o.ResyncInterval, "how often the kernel ruleset is checked for drift and repaired")
	fs.StringVar(&o.SuricataSocket, FlagSuricataSocket, o.SuricataSocket, "suricata's unix command socket; its statistics are exported when it exists")
	fs.StringVar(&o.DNSProxyAddress, FlagDNSProxyAddress, o.DNSProxyAddress, "address the DNS proxy for toFQDNs egress rules serves on, e.g. the internal interface's address:53 (empty: no proxy, toFQDNs policies are ignored)")
	fs.StringVar(&o.DNSUpstream, FlagDNSUpstream, o.DNSUpstream, "resolver the DNS proxy forwards to, host:port (default: the first nameserver of /etc/resolv.conf)")
	fs.StringVar(&o.FQDNStateFile, FlagFQDNStateFile, o.FQDNStateFile, "where resolved FQDN addresses are kept across restarts")
	fs.DurationVar(&o.FQDNMinTTL, FlagFQDNMinTTL, o.FQDNMinTTL, "least time a resolved address stays allowed")
	fs.DurationVar(&o.FQDNMaxTTL, FlagFQDNMaxTTL, o.FQDNMaxTTL, "longest time a resolved address stays allowed, whatever its record's TTL")
	fs.IntVar(&o.FQDNMaxEntries, FlagFQDNMaxEntries, o.FQDNMaxEntries, "most resolved addresses the DNS proxy keeps allowed at once")
	fs.StringVar(&o.NetNS, FlagNetNS, o.NetNS, "network namespace (a path such as /var/run/netns/fw) whose nftables ruleset and nflog the agent manages, if not its own")
	fs.BoolVar(&o.DryRun, FlagDryRun, o.DryRun, "print the ruleset that would be applied and exit")
	fs.BoolVar(&o.FailClosed, FlagFailClosed, o.FailClosed, "at start, before the API server has answered, install a table that drops all forwarded traffic (a ruleset already in the kernel stays)")
	fs.StringSliceVar(&o.PolicyFiles, FlagPolicyFile, o.PolicyFiles, "with --dry-run: read ClusterwideNetworkPolicies and Services from these YAML files instead of the cluster")
}

// Complete fills defaults that depend on other options.
func (o *Options) Complete() error {
	if o.DNSProxyAddress != "" && o.DNSUpstream == "" {
		if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) == 2 && f[0] == "nameserver" {
					o.DNSUpstream = net.JoinHostPort(f[1], "53")
					break
				}
			}
		}
	}
	return nil
}

// Interface names a dry run writes into the ruleset for interfaces the
// command line does not name, so that a policy can be reviewed anywhere.
const (
	PlaceholderExternal = "EXTERNAL"
	PlaceholderInternal = "INTERNAL"
)

// DefaultFirewallName sets --firewall-name to this host's name unless the
// command line set it (to a name, or to empty for no FirewallStatus). The
// default is not the flag's, so that help does not show the host it ran on.
func (o *Options) DefaultFirewallName(set bool) error {
	if set {
		return nil
	}
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("--%s not given and no host name: %w", FlagFirewallName, err)
	}
	o.FirewallName = host
	return nil
}

// Validate checks the options.
func (o *Options) Validate() error {
	if err := o.Runtime.Validate(); err != nil {
		return err
	}
	if o.Runtime.Manager.LeaderElect {
		return fmt.Errorf("--%s=true: every firewall host runs its own agent, there is no leader to elect", component.FlagLeaderElect)
	}
	if _, err := o.Config(); err != nil {
		return err
	}
	if !o.DryRun && (len(o.ExternalInterfaces) == 0 || len(o.InternalInterfaces) == 0) {
		return fmt.Errorf("--%s and --%s are required (only --%s does without them)", FlagExternalInterfaces, FlagInternalInterfaces, FlagDryRun)
	}
	if len(o.NodeCIDRs) == 0 {
		return fmt.Errorf("--%s is required: egress is only allowed from the cluster's networks", FlagNodeCIDRs)
	}
	if len(o.PolicyFiles) > 0 && !o.DryRun {
		return fmt.Errorf("--%s needs --%s", FlagPolicyFile, FlagDryRun)
	}
	if o.DNSProxyAddress != "" && o.DNSUpstream == "" {
		return fmt.Errorf("--%s needs --%s (no nameserver in /etc/resolv.conf)", FlagDNSProxyAddress, FlagDNSUpstream)
	}
	if o.ResyncInterval <= 0 {
		return fmt.Errorf("--%s must be positive", FlagResyncInterval)
	}
	return nil
}

// Config returns the compiler configuration the flags describe.
func (o *Options) Config() (compile.Config, error) {
	cfg := compile.Config{TableName: o.TableName, ExternalInterfaces: o.ExternalInterfaces, InternalInterfaces: o.InternalInterfaces,
		LogGroup: o.LogGroup, FQDN: o.DNSProxyAddress != "", MetalStack: o.MetalStackPolicies}
	var err error
	for _, f := range []struct {
		flag string
		in   []string
		out  *[]netip.Prefix
	}{
		{FlagNodeCIDRs, o.NodeCIDRs, &cfg.NodeCIDRs}, {FlagPodCIDRs, o.PodCIDRs, &cfg.PodCIDRs},
		{FlagAllowedIngressNetworks, o.AllowedIngressNetworks, &cfg.AllowedIngressNetworks},
		{FlagAllowedEgressNetworks, o.AllowedEgressNetworks, &cfg.AllowedEgressNetworks},
	} {
		if *f.out, err = parsePrefixes(f.in); err != nil {
			return cfg, fmt.Errorf("--%s: %w", f.flag, err)
		}
	}
	for _, s := range o.SNAT {
		iface, addr, found := strings.Cut(s, "=")
		n := compile.SNAT{Interface: iface}
		if found {
			if n.To, err = netip.ParseAddr(addr); err != nil {
				return cfg, fmt.Errorf("--%s %q: %w", FlagSNAT, s, err)
			}
		}
		cfg.SNAT = append(cfg.SNAT, n)
	}
	for _, a := range []struct {
		flag, addr string
		protos     []uint8
	}{
		{component.FlagMetricsBindAddress, o.Runtime.Manager.MetricsBindAddress, []uint8{6}},
		{component.FlagHealthProbeBindAddress, o.Runtime.Manager.HealthProbeBindAddress, []uint8{6}},
		{FlagDNSProxyAddress, o.DNSProxyAddress, []uint8{6, 17}},
	} {
		if a.addr == "" || a.addr == "0" {
			continue
		}
		_, port, err := net.SplitHostPort(a.addr)
		if err != nil {
			return cfg, fmt.Errorf("--%s %q: %w", a.flag, a.addr, err)
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return cfg, fmt.Errorf("--%s %q: want HOST:PORT with a port number", a.flag, a.addr)
		}
		for _, proto := range a.protos {
			cfg.AgentPorts = append(cfg.AgentPorts, compile.AgentPort{Proto: proto, Port: uint16(n)})
		}
	}
	for _, s := range o.RateLimits {
		iface, mbit, found := strings.Cut(s, "=")
		v, err := strconv.ParseUint(mbit, 10, 64)
		if !found || err != nil || v == 0 {
			return cfg, fmt.Errorf("--%s %q: want INTERFACE=MBITS", FlagRateLimits, s)
		}
		cfg.RateLimits = append(cfg.RateLimits, compile.RateLimit{Interface: iface, BytesPerSecond: v * 1_000_000 / 8})
	}
	return cfg, nil
}

func parsePrefixes(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
