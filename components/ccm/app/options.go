package app

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/metalkube/metalkube/components/ccm/controller/podcidr"
	lboptions "github.com/metalkube/metalkube/components/lb/options"
	"github.com/metalkube/metalkube/shared/options"
)

// Flag names.
const (
	FlagCluster        = "metal-cluster"
	FlagCacheTTL       = "machine-cache-ttl"
	FlagLabelPrefixes  = "node-label-prefix"
	FlagLabelResync    = "node-label-resync"
	FlagPodNodeNetwork = "pod-cidr-node-network"
	FlagPodClusterCIDR = "pod-cidr-cluster-cidr"
	FlagPodMaskV4      = "pod-cidr-mask-size-ipv4"
	FlagPodMaskV6      = "pod-cidr-mask-size-ipv6"
	FlagHealthInterval = "backend-health-interval"
)

// Options are metalkube's ccm options (the upstream ones live in
// k8s.io/cloud-provider/options).
type Options struct {
	Backend options.Backend
	LB      lboptions.Options
	// Cluster is the cluster's name in the backend.
	Cluster        string
	CacheTTL       time.Duration
	LabelPrefixes  []string
	LabelResync    time.Duration
	PodNodeNetwork []string
	PodClusterCIDR []string
	PodMaskV4      int
	PodMaskV6      int
	HealthInterval time.Duration
}

// AddFlags binds the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.Backend.AddFlags(fs)
	o.LB.AddFlags(fs)
	fs.StringVar(&o.Cluster, FlagCluster, "", "the cluster's name in the bare-metal backend (owner of its machines and IPs)")
	fs.DurationVar(&o.CacheTTL, FlagCacheTTL, 10*time.Second, "how long a listing of the cluster's machines is reused; 0 disables the cache")
	fs.StringSliceVar(&o.LabelPrefixes, FlagLabelPrefixes, []string{"metal.metalkube.io/", "machine.metal-stack.io/"}, "backend server labels and machine tags with these key prefixes are kept on Nodes")
	fs.DurationVar(&o.LabelResync, FlagLabelResync, time.Minute, "how often Node labels are compared with the backend")
	fs.StringSliceVar(&o.PodNodeNetwork, FlagPodNodeNetwork, nil, "node networks (one per family) whose InternalIPs map to pod CIDRs; empty disables metalkube-pod-cidr")
	fs.StringSliceVar(&o.PodClusterCIDR, FlagPodClusterCIDR, nil, "pod networks, one per family, in the order of --"+FlagPodNodeNetwork)
	fs.IntVar(&o.PodMaskV4, FlagPodMaskV4, 24, "prefix length of a node's IPv4 pod CIDR")
	fs.IntVar(&o.PodMaskV6, FlagPodMaskV6, 80, "prefix length of a node's IPv6 pod CIDR")
	fs.DurationVar(&o.HealthInterval, FlagHealthInterval, 10*time.Second, "how often the backend's health is checked for /healthz")
}

// ApplyConfigFile sets the flags that were not given on the command line from
// a YAML file whose keys are flag names. Unknown keys are errors.
func ApplyConfigFile(fs *pflag.FlagSet, path string) error {
	if path == "" {
		return nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	var errs []error
	for k, v := range values {
		f := fs.Lookup(k)
		if f == nil {
			errs = append(errs, fmt.Errorf("config file %s: unknown key %q (keys are flag names)", path, k))
			continue
		}
		if f.Changed {
			continue // the command line wins
		}
		var s string
		switch v := v.(type) {
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			s = strings.Join(parts, ",")
		default:
			s = fmt.Sprint(v)
		}
		if err := fs.Set(k, s); err != nil {
			errs = append(errs, fmt.Errorf("config file %s: %s: %w", path, k, err))
		}
	}
	return errors.Join(errs...)
}

// Validate checks the options; the backend flags only when withBackend (a
// command given a backend ignores them).
func (o *Options) Validate(withBackend bool) error {
	errs := []error{o.LB.Validate()}
	if withBackend {
		errs = append(errs, o.Backend.Validate())
	}
	if o.Cluster == "" {
		errs = append(errs, fmt.Errorf("--%s is required", FlagCluster))
	}
	if o.CacheTTL < 0 {
		errs = append(errs, fmt.Errorf("--%s must not be negative", FlagCacheTTL))
	}
	if _, err := o.PodCIDRFamilies(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// PodCIDRFamilies parses the pod CIDR flags.
func (o *Options) PodCIDRFamilies() ([]podcidr.Family, error) {
	if len(o.PodNodeNetwork) != len(o.PodClusterCIDR) {
		return nil, fmt.Errorf("--%s and --%s must be given the same number of times", FlagPodNodeNetwork, FlagPodClusterCIDR)
	}
	var out []podcidr.Family
	for i := range o.PodNodeNetwork {
		nn, err := netip.ParsePrefix(o.PodNodeNetwork[i])
		if err != nil {
			return nil, fmt.Errorf("--%s=%q: %w", FlagPodNodeNetwork, o.PodNodeNetwork[i], err)
		}
		cc, err := netip.ParsePrefix(o.PodClusterCIDR[i])
		if err != nil {
			return nil, fmt.Errorf("--%s=%q: %w", FlagPodClusterCIDR, o.PodClusterCIDR[i], err)
		}
		if nn.Addr().Is4() != cc.Addr().Is4() {
			return nil, fmt.Errorf("--%s=%s and --%s=%s are of different IP families", FlagPodNodeNetwork, nn, FlagPodClusterCIDR, cc)
		}
		mask := o.PodMaskV4
		if nn.Addr().Is6() {
			mask = o.PodMaskV6
		}
		if mask < cc.Bits() || mask > cc.Addr().BitLen() {
			return nil, fmt.Errorf("pod CIDR mask /%d does not fit --%s=%s", mask, FlagPodClusterCIDR, cc)
		}
		out = append(out, podcidr.Family{NodeNetwork: nn, ClusterCIDR: cc, MaskSize: mask})
	}
	return out, nil
}
