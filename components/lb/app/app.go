package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"
	"net/http"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/metalkube/metalkube/components/lb/announce"
	"github.com/metalkube/metalkube/components/lb/balancer"
	"github.com/metalkube/metalkube/components/lb/controller"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/options"
)

// Flag names of the standalone command.
const (
	FlagKubeconfig  = "kubeconfig"
	FlagCluster     = "metal-cluster"
	FlagClass       = "load-balancer-class"
	FlagLeaderElect = "leader-elect"
	FlagLeaderNS    = "leader-election-namespace"
	FlagMetrics     = "metrics-bind-address"
	FlagProbes      = "health-probe-bind-address"
)

// Options configure `metalkube lb`.
type Options struct {
	Backend options.Backend
	Logging options.Logging
	LB      LBOptions
	// Kubeconfig of the cluster whose Services are served; empty: in-cluster
	// or $KUBECONFIG.
	Kubeconfig string
	// Cluster is the cluster's name in the backend.
	Cluster string
	// Class is the spec.loadBalancerClass served; empty: Services without one.
	Class                   string
	LeaderElect             bool
	LeaderElectionNamespace string
	MetricsAddr, ProbeAddr  string

	// Client, if set, is used instead of building one from Backend (tests, demo).
	Client metal.Client
}

// AddFlags binds every flag.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.Backend.AddFlags(fs)
	o.Logging.AddFlags(fs)
	o.LB.AddFlags(fs)
	fs.StringVar(&o.Kubeconfig, FlagKubeconfig, "", "kubeconfig of the cluster whose Services are served; empty: in-cluster or $KUBECONFIG")
	fs.StringVar(&o.Cluster, FlagCluster, "", "the cluster's name in the bare-metal backend (owner of its IPs)")
	fs.StringVar(&o.Class, FlagClass, "", "spec.loadBalancerClass served; empty: Services without a class")
	fs.BoolVar(&o.LeaderElect, FlagLeaderElect, true, "elect a leader among replicas")
	fs.StringVar(&o.LeaderElectionNamespace, FlagLeaderNS, "kube-system", "namespace of the leader-election lease")
	fs.StringVar(&o.MetricsAddr, FlagMetrics, ":8080", "metrics address; 0 disables")
	fs.StringVar(&o.ProbeAddr, FlagProbes, ":8081", "health and readiness probe address")
}

// Validate checks the options.
func (o *Options) Validate() error {
	errs := []error{o.LB.Validate(), o.Logging.Validate()}
	if o.Client == nil {
		errs = append(errs, o.Backend.Validate())
	}
	if o.Cluster == "" {
		errs = append(errs, fmt.Errorf("--%s is required", FlagCluster))
	}
	return errors.Join(errs...)
}

// NewCommand returns `metalkube lb`.
func NewCommand(ctx context.Context) *cobra.Command {
	o := &Options{}
	cmd := &cobra.Command{
		Use:   "lb",
		Short: "Give Services of type LoadBalancer IPs from the bare-metal backend and announce them (MetalLB or Cilium BGP)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			log, err := o.Logging.Logger()
			if err != nil {
				return err
			}
			ctrl.SetLogger(log)
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rules.ExplicitPath = o.Kubeconfig
			cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
			if err != nil {
				return fmt.Errorf("--%s=%q: %w", FlagKubeconfig, o.Kubeconfig, err)
			}
			mgr, err := manager.New(cfg, manager.Options{
				Logger:                  log,
				LeaderElection:          o.LeaderElect,
				LeaderElectionID:        "metalkube-lb",
				LeaderElectionNamespace: o.LeaderElectionNamespace,
				Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
				HealthProbeBindAddress:  o.ProbeAddr,
			})
			if err != nil {
				return err
			}
			if err := AddToManager(cmd.Context(), mgr, o); err != nil {
				return err
			}
			return mgr.Start(cmd.Context())
		},
	}
	cmd.SetContext(ctx)
	o.AddFlags(cmd.Flags())
	return cmd
}

// AddToManager adds the Service controller, the announcer and a readiness
// check on the backend to mgr.
func AddToManager(ctx context.Context, mgr manager.Manager, o *Options) error {
	c := o.Client
	if c == nil {
		var err error
		if c, err = o.Backend.NewClient(ctx); err != nil {
			return err
		}
	}
	b, err := balancer.New(balancer.Config{Cluster: o.Cluster, IPs: c, Network: o.LB.Network, Network6: o.LB.Network6, AdditionalNetworks: o.LB.AdditionalNetworks})
	if err != nil {
		return err
	}
	if err := (&controller.Reconciler{Client: mgr.GetClient(), Balancer: b, Class: o.Class}).AddToManager(mgr); err != nil {
		return err
	}
	if o.LB.Announce.Mode != announce.ModeNone {
		r := &announce.Reconciler{Client: mgr.GetClient(), IPs: c, Cluster: o.Cluster, Config: o.LB.Announce,
			ServiceTagPrefix: balancer.TagServicePrefix, Resync: o.LB.AnnounceResync}
		if err := r.AddToManager(mgr); err != nil {
			return err
		}
	}
	return mgr.AddReadyzCheck("backend", func(req *http.Request) error { return c.Healthy(req.Context()) })
}
