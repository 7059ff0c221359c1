package options

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/ironcore"
	"github.com/metalkube/metalkube/shared/scheme"
)

// Backend flag names.
const (
	FlagBackend           = "backend"
	FlagMetalKubeconfig   = "metal-kubeconfig"
	FlagMetalNamespace    = "metal-namespace"
	FlagIPPools           = "ip-pool"
	FlagBackendTimeout    = "backend-timeout"
	FlagSizeLabel         = "server-size-label"
	FlagPartitionLabel    = "server-partition-label"
	FlagRegionLabel       = "server-region-label"
	BackendIronCore       = "ironcore"
	defaultBackendTimeout = 30 * time.Second
)

// Backends lists the backends NewClient can build.
var Backends = []string{BackendIronCore}

// Backend selects and configures the bare-metal backend.
type Backend struct {
	// Name is the backend: ironcore.
	Name string
	// MetalKubeconfig is the kubeconfig of the cluster running metal-operator
	// (ironcore); empty means in-cluster or $KUBECONFIG.
	MetalKubeconfig string
	// MetalNamespace holds the backend's objects (ironcore).
	MetalNamespace string
	// IPPools maps network names to IPAM pools, "network=Kind/name" or
	// "network=group/Kind/name" (ironcore).
	IPPools []string
	// Timeout bounds each backend call.
	Timeout time.Duration
	// Server label keys (ironcore).
	SizeLabel, PartitionLabel, RegionLabel string

	// RestConfig, if set, is used instead of MetalKubeconfig (tests, demo).
	RestConfig *rest.Config
}

// AddFlags binds the backend flags.
func (o *Backend) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Name, FlagBackend, BackendIronCore, "bare-metal backend: "+strings.Join(Backends, "|"))
	fs.StringVar(&o.MetalKubeconfig, FlagMetalKubeconfig, o.MetalKubeconfig, "kubeconfig of the cluster running metal-operator (ironcore); empty: in-cluster or $KUBECONFIG")
	fs.StringVar(&o.MetalNamespace, FlagMetalNamespace, "default", "namespace of the ServerClaims, Secrets and IPAddressClaims (ironcore)")
	fs.StringSliceVar(&o.IPPools, FlagIPPools, o.IPPools, "IP pool of a network, network=Kind/name or network=apiGroup/Kind/name (ironcore; repeatable)")
	fs.DurationVar(&o.Timeout, FlagBackendTimeout, defaultBackendTimeout, "timeout of one backend call")
	fs.StringVar(&o.SizeLabel, FlagSizeLabel, ironcore.DefaultSizeLabel, "Server label holding the machine size (ironcore)")
	fs.StringVar(&o.PartitionLabel, FlagPartitionLabel, ironcore.DefaultPartitionLabel, "Server label holding the partition / zone (ironcore)")
	fs.StringVar(&o.RegionLabel, FlagRegionLabel, ironcore.DefaultRegionLabel, "Server label holding the region (ironcore)")
}

// Validate checks the flags; every error names the flag and the value.
func (o *Backend) Validate() error {
	var errs []error
	if !slices.Contains(Backends, o.Name) {
		errs = append(errs, fmt.Errorf("--%s=%q: want one of %s", FlagBackend, o.Name, strings.Join(Backends, ", ")))
	}
	if o.Name == BackendIronCore && o.MetalNamespace == "" {
		errs = append(errs, fmt.Errorf("--%s is empty", FlagMetalNamespace))
	}
	if _, err := o.pools(); err != nil {
		errs = append(errs, err)
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--%s=%s: must be positive", FlagBackendTimeout, o.Timeout))
	}
	return errors.Join(errs...)
}

func (o *Backend) pools() (map[string]ironcore.PoolRef, error) {
	out := map[string]ironcore.PoolRef{}
	for _, p := range o.IPPools {
		network, ref, ok := strings.Cut(p, "=")
		parts := strings.Split(ref, "/")
		if !ok || network == "" || len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
			return nil, fmt.Errorf("--%s=%q: want network=Kind/name or network=apiGroup/Kind/name", FlagIPPools, p)
		}
		pr := ironcore.PoolRef{APIGroup: "ipam.cluster.x-k8s.io", Kind: parts[len(parts)-2], Name: parts[len(parts)-1]}
		if len(parts) == 3 {
			pr.APIGroup = parts[0]
		}
		out[network] = pr
	}
	return out, nil
}

// NewClient builds the backend client and checks that the backend answers, so
// that a wrong address or credentials fail at start with a clear error.
func (o *Backend) NewClient(ctx context.Context) (metal.Client, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	cfg := o.RestConfig
	if cfg == nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = o.MetalKubeconfig
		c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("--%s=%q: %w", FlagMetalKubeconfig, o.MetalKubeconfig, err)
		}
		cfg = c
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = o.Timeout
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, fmt.Errorf("backend %s at %s: %w", o.Name, cfg.Host, err)
	}
	pools, _ := o.pools()
	b, err := ironcore.New(ironcore.Config{Client: c, Namespace: o.MetalNamespace, Pools: pools,
		SizeLabel: o.SizeLabel, PartitionLabel: o.PartitionLabel, RegionLabel: o.RegionLabel})
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := b.Healthy(hctx); err != nil {
		return nil, fmt.Errorf("backend %s at %s: %w", o.Name, cfg.Host, err)
	}
	return b, nil
}
