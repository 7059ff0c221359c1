package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	infrav1 "github.com/metalkube/metalkube/components/capi/apis/infrastructure/v1alpha1"
	"github.com/metalkube/metalkube/components/capi/controller/metalcluster"
	"github.com/metalkube/metalkube/components/capi/controller/metalmachine"
	"github.com/metalkube/metalkube/components/capi/webhooks"
	"github.com/metalkube/metalkube/shared/component"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/options"
	"github.com/metalkube/metalkube/shared/scheme"
)

// Name is the component's name: its command, logger and lease (metalkube-capi).
const Name = "capi"

// Flag names of the command.
const (
	FlagWebhookPort        = "webhook-port"
	FlagWebhookCertDir     = "webhook-cert-dir"
	FlagMachineConcurrency = "machine-concurrency"
	FlagPollInterval       = "poll-interval"
	FlagRetryInterval      = "retry-interval"
)

// Options are the flags of `metalkube capi`.
type Options struct {
	Runtime        *component.Options
	Backend        options.Backend
	WebhookPort    int
	WebhookCertDir string
	Workers        int
	Poll, Retry    time.Duration
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{Runtime: component.NewOptions(Name), WebhookPort: 9443, WebhookCertDir: "/tmp/k8s-webhook-server/serving-certs",
		Workers: 10, Poll: metalmachine.DefaultPoll, Retry: metalmachine.DefaultRetry}
}

// AddFlags binds every flag.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.Runtime.AddFlags(fs)
	o.Backend.AddFlags(fs)
	fs.IntVar(&o.WebhookPort, FlagWebhookPort, o.WebhookPort, "port of the admission webhook server; 0: no webhook server")
	fs.StringVar(&o.WebhookCertDir, FlagWebhookCertDir, o.WebhookCertDir, "directory with the webhook server's tls.crt and tls.key")
	fs.IntVar(&o.Workers, FlagMachineConcurrency, o.Workers, "MetalMachines reconciled at once")
	fs.DurationVar(&o.Poll, FlagPollInterval, o.Poll, "how often a machine the backend has not yet started is looked at")
	fs.DurationVar(&o.Retry, FlagRetryInterval, o.Retry, "how long to wait after a condition the provider cannot change (no matching server, missing bootstrap Secret, backend outage)")
}

// Validate checks the options; every error names the flag and the value.
func (o *Options) Validate() error {
	errs := []error{o.Runtime.Validate(), o.Backend.Validate()}
	if o.WebhookPort < 0 || o.WebhookPort > 65535 {
		errs = append(errs, fmt.Errorf("--%s=%d: want 0 (off) or a port", FlagWebhookPort, o.WebhookPort))
	}
	if o.Workers < 1 {
		errs = append(errs, fmt.Errorf("--%s=%d: must be at least 1", FlagMachineConcurrency, o.Workers))
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{FlagPollInterval, o.Poll}, {FlagRetryInterval, o.Retry}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("--%s=%s: must be positive", d.flag, d.v))
		}
	}
	return errors.Join(errs...)
}

// Config is what `metalkube capi` runs with; tests build it directly.
type Config struct {
	Runtime *component.Config
	// Metal is the bare-metal backend.
	Metal          metal.Client
	WebhookPort    int
	WebhookCertDir string
	Workers        int
	Poll, Retry    time.Duration
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
	return &Config{Runtime: rc, Metal: c, WebhookPort: o.WebhookPort, WebhookCertDir: o.WebhookCertDir, Workers: o.Workers, Poll: o.Poll, Retry: o.Retry}, nil
}

// NewCommand returns `metalkube capi`.
func NewCommand(context.Context) *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   Name,
		Short: "Cluster API infrastructure provider: MetalClusters and MetalMachines on the bare-metal backend (IronCore or metal-stack)",
		Long: `capi is a Cluster API infrastructure provider (contract v1beta2) for both bare-metal backends:
a MetalMachine becomes a ServerClaim on metal-operator or a machine allocation in metal-api,
booted with the bootstrap data of its Machine, and reports the provider ID the metalkube ccm
reads; a MetalCluster gets its control-plane endpoint (given, or an IP from the backend) and
the backend's partitions as failure domains. It serves its defaulting and validating webhooks
on --webhook-port.`,
		Example: `  # On IronCore: ServerClaims in namespace metal, endpoint IPs from an in-cluster IPAM pool:
  metalkube capi --backend=ironcore --metal-namespace=metal \
    --ip-pool=control-plane=GlobalInClusterIPPool/control-plane --webhook-cert-dir=/etc/capi/tls

  # On metal-stack, without webhooks:
  metalkube capi --backend=metalstack --metal-api-url=https://metal-api.example.com \
    --metal-api-hmac-file=/etc/metal/hmac --metal-project=00000000-0000-0000-0000-000000000001 \
    --metal-partition=fra-1 --webhook-port=0`,
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

// NewScheme returns the scheme of the provider: Kubernetes, the backends'
// types, Cluster API core and the provider's own.
func NewScheme() *runtime.Scheme { return scheme.New(clusterv1.AddToScheme, infrav1.AddToScheme) }

// Run runs the manager with the controllers (and webhooks) until ctx ends.
func Run(ctx context.Context, cfg *Config) error {
	mgr, err := cfg.Runtime.NewManager(ctx, NewScheme(), component.SecretsUncached, func(mo *manager.Options) {
		if cfg.WebhookPort > 0 {
			mo.WebhookServer = webhook.NewServer(webhook.Options{Port: cfg.WebhookPort, CertDir: cfg.WebhookCertDir})
		}
	})
	if err != nil {
		return err
	}
	if err := AddToManager(ctx, mgr, cfg); err != nil {
		return err
	}
	return component.Start(ctx, mgr)
}

// AddToManager adds the MetalCluster and MetalMachine controllers, the
// webhooks (with a webhook port) and a readiness check on the backend to mgr.
func AddToManager(_ context.Context, mgr manager.Manager, cfg *Config) error {
	if err := (&metalcluster.Reconciler{Metal: cfg.Metal, Retry: cfg.Retry}).AddToManager(mgr); err != nil {
		return err
	}
	if err := (&metalmachine.Reconciler{Metal: cfg.Metal, Poll: cfg.Poll, Retry: cfg.Retry}).AddToManager(mgr, metalmachine.AddOptions{Workers: cfg.Workers}); err != nil {
		return err
	}
	if cfg.WebhookPort > 0 {
		if err := webhooks.AddToManager(mgr); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
			return err
		}
	}
	return mgr.AddReadyzCheck(component.ReadyzBackend, component.BackendReady(cfg.Metal))
}
