package component

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Flag names of the runtime, the same in every component.
const (
	FlagKubeconfig              = "kubeconfig"
	FlagKubeAPIQPS              = "kube-api-qps"
	FlagKubeAPIBurst            = "kube-api-burst"
	FlagLeaderElect             = "leader-elect"
	FlagLeaderElectionID        = "leader-election-id"
	FlagLeaderElectionNamespace = "leader-election-namespace"
	FlagLeaseDuration           = "leader-elect-lease-duration"
	FlagRenewDeadline           = "leader-elect-renew-deadline"
	FlagRetryPeriod             = "leader-elect-retry-period"
	FlagMetricsBindAddress      = "metrics-bind-address"
	FlagHealthProbeBindAddress  = "health-probe-bind-address"
	FlagGracefulShutdownTimeout = "graceful-shutdown-timeout"
)

// Defaults of the runtime flags. The leases are long enough to be renewed on
// a loaded node; a leader that stops releases its lease, so handing over
// does not wait for it to expire.
const (
	DefaultLeaseDuration           = 60 * time.Second
	DefaultRenewDeadline           = 40 * time.Second
	DefaultRetryPeriod             = 5 * time.Second
	DefaultMetricsBindAddress      = ":8080"
	DefaultHealthProbeBindAddress  = ":8081"
	DefaultGracefulShutdownTimeout = 30 * time.Second
)

// RESTOptions say how to reach the cluster a component works on.
type RESTOptions struct {
	// Kubeconfig is the kubeconfig file; empty: $KUBECONFIG, ~/.kube/config
	// or the in-cluster config.
	Kubeconfig string
	// QPS and Burst limit the API client; zero keeps client-go's defaults
	// (5 and 10).
	QPS   float32
	Burst int
}

// AddFlags binds --kubeconfig, --kube-api-qps and --kube-api-burst.
func (o *RESTOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, FlagKubeconfig, o.Kubeconfig, "kubeconfig of the cluster the component works on; empty: $KUBECONFIG, ~/.kube/config or in-cluster")
	fs.Float32Var(&o.QPS, FlagKubeAPIQPS, o.QPS, "requests per second the API client may send; 0: client-go's default")
	fs.IntVar(&o.Burst, FlagKubeAPIBurst, o.Burst, "burst of API requests above --"+FlagKubeAPIQPS+"; 0: client-go's default")
}

// Validate checks the client flags.
func (o *RESTOptions) Validate() error {
	if o.QPS < 0 || o.Burst < 0 {
		return fmt.Errorf("--%s=%v and --%s=%d must not be negative", FlagKubeAPIQPS, o.QPS, FlagKubeAPIBurst, o.Burst)
	}
	return nil
}

// Complete loads the REST config, the one way every component does.
func (o *RESTOptions) Complete() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		// client-go's own message suggests KUBERNETES_MASTER, which nothing
		// here reads.
		return nil, fmt.Errorf("no cluster to talk to: set --%s or $%s, or run in a pod (its service account)", FlagKubeconfig, clientcmd.RecommendedConfigPathEnvVar)
	}
	if err != nil {
		return nil, fmt.Errorf("--%s=%q: %w", FlagKubeconfig, o.Kubeconfig, err)
	}
	if o.QPS > 0 {
		cfg.QPS = o.QPS
	}
	if o.Burst > 0 {
		cfg.Burst = o.Burst
	}
	return cfg, nil
}

// ManagerOptions configure the controller-runtime manager.
type ManagerOptions struct {
	LeaderElect             bool
	LeaderElectionID        string
	LeaderElectionNamespace string
	LeaseDuration           time.Duration
	RenewDeadline           time.Duration
	RetryPeriod             time.Duration
	MetricsBindAddress      string
	HealthProbeBindAddress  string
	GracefulShutdownTimeout time.Duration
}

// NewManagerOptions returns the defaults, with leaseID as the lease name.
func NewManagerOptions(leaseID string) ManagerOptions {
	return ManagerOptions{
		LeaderElect:             true,
		LeaderElectionID:        leaseID,
		LeaseDuration:           DefaultLeaseDuration,
		RenewDeadline:           DefaultRenewDeadline,
		RetryPeriod:             DefaultRetryPeriod,
		MetricsBindAddress:      DefaultMetricsBindAddress,
		HealthProbeBindAddress:  DefaultHealthProbeBindAddress,
		GracefulShutdownTimeout: DefaultGracefulShutdownTimeout,
	}
}

// AddFlags binds the manager flags; the values already set are the defaults.
func (o *ManagerOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.LeaderElect, FlagLeaderElect, o.LeaderElect, "elect a leader before reconciling, so that replicas can run")
	fs.StringVar(&o.LeaderElectionID, FlagLeaderElectionID, o.LeaderElectionID, "name of the leader election lease")
	fs.StringVar(&o.LeaderElectionNamespace, FlagLeaderElectionNamespace, o.LeaderElectionNamespace, "namespace of the leader election lease; empty: the pod's namespace")
	fs.DurationVar(&o.LeaseDuration, FlagLeaseDuration, o.LeaseDuration, "how long a leader election lease holds without renewal")
	fs.DurationVar(&o.RenewDeadline, FlagRenewDeadline, o.RenewDeadline, "how long the leader tries to renew its lease before it steps down")
	fs.DurationVar(&o.RetryPeriod, FlagRetryPeriod, o.RetryPeriod, "how often leader election candidates try to take the lease")
	fs.StringVar(&o.MetricsBindAddress, FlagMetricsBindAddress, o.MetricsBindAddress, "address of the Prometheus metrics endpoint; 0 disables it")
	fs.StringVar(&o.HealthProbeBindAddress, FlagHealthProbeBindAddress, o.HealthProbeBindAddress, "address of the /healthz and /readyz endpoints; 0 disables them")
	fs.DurationVar(&o.GracefulShutdownTimeout, FlagGracefulShutdownTimeout, o.GracefulShutdownTimeout, "how long the controllers get to stop on shutdown")
}

// Validate checks the manager flags; every error names the flag and value.
func (o *ManagerOptions) Validate() error {
	var errs []error
	if o.LeaderElect {
		if o.LeaderElectionID == "" {
			errs = append(errs, fmt.Errorf("--%s is empty", FlagLeaderElectionID))
		}
		for _, d := range []struct {
			flag string
			v    time.Duration
		}{{FlagLeaseDuration, o.LeaseDuration}, {FlagRenewDeadline, o.RenewDeadline}, {FlagRetryPeriod, o.RetryPeriod}} {
			if d.v <= 0 {
				errs = append(errs, fmt.Errorf("--%s=%s: must be positive", d.flag, d.v))
			}
		}
		if o.RenewDeadline >= o.LeaseDuration {
			errs = append(errs, fmt.Errorf("--%s=%s must be shorter than --%s=%s", FlagRenewDeadline, o.RenewDeadline, FlagLeaseDuration, o.LeaseDuration))
		}
		if o.RetryPeriod >= o.RenewDeadline {
			errs = append(errs, fmt.Errorf("--%s=%s must be shorter than --%s=%s", FlagRetryPeriod, o.RetryPeriod, FlagRenewDeadline, o.RenewDeadline))
		}
	}
	if o.GracefulShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("--%s=%s: must not be negative", FlagGracefulShutdownTimeout, o.GracefulShutdownTimeout))
	}
	return errors.Join(errs...)
}

// Options are the runtime options of a component that runs one manager.
type Options struct {
	// Name is the component's (lb, os, ...): its logger's and its lease's.
	Name    string
	REST    RESTOptions
	Manager ManagerOptions
}

// NewOptions returns the defaults of the component named name: its lease is
// metalkube-<name>.
func NewOptions(name string) *Options {
	return &Options{Name: name, Manager: NewManagerOptions("metalkube-" + name)}
}

// AddFlags binds the runtime flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.REST.AddFlags(fs)
	o.Manager.AddFlags(fs)
}

// Validate checks the runtime flags.
func (o *Options) Validate() error { return errors.Join(o.REST.Validate(), o.Manager.Validate()) }

// Complete validates the options and loads the REST config.
func (o *Options) Complete() (*Config, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	rc, err := o.REST.Complete()
	if err != nil {
		return nil, err
	}
	return &Config{Name: o.Name, REST: rc, Manager: o.Manager}, nil
}
