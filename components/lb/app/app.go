package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/lb/announce"
	"github.com/metalkube/metalkube/components/lb/balancer"
	announcer "github.com/metalkube/metalkube/components/lb/controller/announce"
	"github.com/metalkube/metalkube/components/lb/controller/service"
	lboptions "github.com/metalkube/metalkube/components/lb/options"
	"github.com/metalkube/metalkube/shared/component"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/options"
	"github.com/metalkube/metalkube/shared/scheme"
)

// Name is the component's name: its command, logger and lease (metalkube-lb).
const Name = "lb"

// Flag names of the standalone command.
const (
	FlagCluster = "metal-cluster"
	FlagClass   = "load-balancer-class"
)

// Options are the flags of `metalkube lb`.
type Options struct {
	Runtime *component.Options
	Backend options.Backend
	LB      lboptions.Options
	// Cluster is the cluster's name in the backend.
	Cluster string
	// Class is the spec.loadBalancerClass served; empty: Services without one.
	Class string
}

// NewOptions returns the defaults.
func NewOptions() *Options { return &Options{Runtime: component.NewOptions(Name)} }

// AddFlags binds every flag.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.Runtime.AddFlags(fs)
	o.Backend.AddFlags(fs)
	o.LB.AddFlags(fs)
	fs.StringVar(&o.Cluster, FlagCluster, "", "the cluster's name in the bare-metal backend (owner of its IPs)")
	fs.StringVar(&o.Class, FlagClass, "", "spec.loadBalancerClass served; empty: Services without a class")
}

// Validate checks the options.
func (o *Options) Validate() error {
	errs := []error{o.Runtime.Validate(), o.LB.Validate(), o.Backend.Validate()}
	if o.Cluster == "" {
		errs = append(errs, fmt.Errorf("--%s is required", FlagCluster))
	}
	return errors.Join(errs...)
}

// Config is what `metalkube lb` runs with; tests build it directly.
type Config struct {
	Runtime *component.Config
	// Metal is the bare-metal backend.
	Metal   metal.Client
	LB      lboptions.Options
	Cluster string
	Class   string
}

// Complete validates the options, loads the REST config and builds the
// backend client.
func (o *Options) Complete(ctx context.Context) (*Config, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	rc, err := o.Runtime.Complete()
	if err != nil {
		return nil, err
	}
	c, err := component.NewBackend(ctx, Name, &o.Backend)
	if err != nil {
		return nil, err
	}
	return &Config{Runtime: rc, Metal: c, LB: o.LB, Cluster: o.Cluster, Class: o.Class}, nil
}

// NewCommand returns `metalkube lb`.
func NewCommand(context.Context) *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   Name,
		Short: "Give Services of type LoadBalancer IPs from the bare-metal backend and announce them (MetalLB or Cilium BGP)",
		Long: `lb is the LoadBalancer half of the ccm as a component of its own, for clusters whose
cloud-controller-manager is not metalkube's: it gives Services of type LoadBalancer (of its
--load-balancer-class, or without a class) IPs from the bare-metal backend, frees them when the
Service goes, and renders the announcement: MetalLB IPAddressPools and BGP peers, or Cilium's
LB-IPAM pools and BGP configuration.`,
		Example: `  # IPs from an in-cluster IPAM pool on IronCore, announced by MetalLB:
  metalkube lb --metal-cluster=prod --backend=ironcore --metal-kubeconfig=/etc/metal/kubeconfig \
    --metal-namespace=metal --ip-pool=internet=InClusterIPPool/public-v4

  # IPs from metal-stack's internet network, announced with Cilium BGP, only for one class:
  metalkube lb --metal-cluster=prod --backend=metalstack --metal-api-url=https://metal-api.example.com \
    --metal-api-hmac-file=/etc/metal/hmac --metal-project=00000000-0000-0000-0000-000000000001 \
    --announce=cilium --load-balancer-class=metalkube.io/lb`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.Complete(cmd.Context())
			if err != nil {
				return err
			}
			return Run(cmd.Context(), cfg)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// Run runs the manager with the controllers until ctx ends.
func Run(ctx context.Context, cfg *Config) error {
	mgr, err := cfg.Runtime.NewManager(ctx, scheme.New())
	if err != nil {
		return err
	}
	if err := AddToManager(ctx, mgr, cfg); err != nil {
		return err
	}
	return component.Start(ctx, mgr)
}

// AddToManager adds the Service controller, the announcer and a readiness
// check on the backend to mgr.
func AddToManager(_ context.Context, mgr manager.Manager, cfg *Config) error {
	b, err := balancer.New(balancer.Config{Cluster: cfg.Cluster, IPs: cfg.Metal, Network: cfg.LB.Network, Network6: cfg.LB.Network6, AdditionalNetworks: cfg.LB.AdditionalNetworks})
	if err != nil {
		return err
	}
	if err := (&service.Reconciler{Client: mgr.GetClient(), Balancer: b, Class: cfg.Class, Workers: cfg.LB.ServiceWorkers}).AddToManager(mgr); err != nil {
		return err
	}
	if cfg.LB.Announce.Mode != announce.ModeNone {
		r := &announcer.Reconciler{Client: mgr.GetClient(), IPs: cfg.Metal, Cluster: cfg.Cluster, Config: cfg.LB.Announce,
			ServiceTagPrefix: balancer.TagServicePrefix, Resync: cfg.LB.AnnounceResync}
		if err := r.AddToManager(mgr); err != nil {
			return err
		}
	}
	return mgr.AddReadyzCheck(component.ReadyzBackend, component.BackendReady(cfg.Metal))
}
