package options

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/spf13/pflag"

	"github.com/metalkube/metalkube/components/lb/announce"
)

// Flag names.
const (
	FlagNetwork          = "lb-network"
	FlagNetwork6         = "lb-network-ipv6"
	FlagExtraNetworks    = "lb-additional-network"
	FlagAnnounce         = "announce"
	FlagMetalLBNamespace = "metallb-namespace"
	FlagASNLabel         = "bgp-asn-node-label"
	FlagPeerAddressLabel = "bgp-peer-address-node-label"
	FlagPeerAddress      = "bgp-peer-address"
	FlagPeerASN          = "bgp-peer-asn"
	FlagL2               = "l2-advertisement"
	FlagAnnounceResync   = "announce-resync-period"
	FlagServiceWorkers   = "lb-service-workers"
)

// Options configure load balancing.
type Options struct {
	Network, Network6 string
	// AdditionalNetworks may be picked per Service with the
	// lb.metalkube.io/network annotation; no other network may.
	AdditionalNetworks []string
	Announce           announce.Config
	AnnounceResync     time.Duration
	// ServiceWorkers is how many Services the lb controller reconciles at
	// once (an allocation mostly waits for the IPAM provider).
	ServiceWorkers int
}

// AddFlags binds the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Network, FlagNetwork, "internet", "backend network LoadBalancer IPv4 (and default) addresses come from")
	fs.StringVar(&o.Network6, FlagNetwork6, "", "backend network of LoadBalancer IPv6 addresses; empty: --"+FlagNetwork)
	fs.StringSliceVar(&o.AdditionalNetworks, FlagExtraNetworks, o.AdditionalNetworks, "further backend network a Service may pick with the lb.metalkube.io/network annotation (repeatable); no other network may be picked")
	fs.StringVar(&o.Announce.Mode, FlagAnnounce, announce.ModeMetalLB, "how IPs are announced: metallb|cilium|none")
	fs.StringVar(&o.Announce.Namespace, FlagMetalLBNamespace, "metallb-system", "namespace of MetalLB's objects")
	fs.StringVar(&o.Announce.ASNLabel, FlagASNLabel, announce.DefaultASNLabel, "Node label with the node's BGP ASN; nodes without it do not peer")
	fs.StringVar(&o.Announce.PeerAddressLabel, FlagPeerAddressLabel, announce.DefaultPeerAddressLabel, "Node label with the node's BGP peer address")
	fs.StringVar(&o.Announce.PeerAddress, FlagPeerAddress, announce.DefaultPeerAddress, "BGP peer address of nodes without the peer-address label")
	fs.Uint32Var(&o.Announce.PeerASN, FlagPeerASN, 0, "BGP peer ASN; 0: the node's own ASN")
	fs.BoolVar(&o.Announce.L2, FlagL2, false, "also render an L2Advertisement per pool (MetalLB)")
	fs.DurationVar(&o.AnnounceResync, FlagAnnounceResync, time.Minute, "how often the announcement configuration is rebuilt without an event")
	fs.IntVar(&o.ServiceWorkers, FlagServiceWorkers, 32, "LoadBalancer Services reconciled at once (each mostly waits for its IP from the IPAM provider)")
}

// Validate checks the flags.
func (o *Options) Validate() error {
	var errs []error
	if o.Network == "" {
		errs = append(errs, fmt.Errorf("--%s is empty", FlagNetwork))
	}
	switch o.Announce.Mode {
	case announce.ModeMetalLB, announce.ModeCilium, announce.ModeNone:
	default:
		errs = append(errs, fmt.Errorf("--%s=%q: want metallb, cilium or none", FlagAnnounce, o.Announce.Mode))
	}
	if o.Announce.Mode == announce.ModeMetalLB && o.Announce.Namespace == "" {
		errs = append(errs, fmt.Errorf("--%s is empty", FlagMetalLBNamespace))
	}
	if _, err := netip.ParseAddr(o.Announce.PeerAddress); err != nil {
		errs = append(errs, fmt.Errorf("--%s=%q: not an IP address", FlagPeerAddress, o.Announce.PeerAddress))
	}
	if o.AnnounceResync <= 0 {
		errs = append(errs, fmt.Errorf("--%s must be positive", FlagAnnounceResync))
	}
	if o.ServiceWorkers < 0 {
		errs = append(errs, fmt.Errorf("--%s=%d: must be positive (0: the default)", FlagServiceWorkers, o.ServiceWorkers))
	}
	return errors.Join(errs...)
}
