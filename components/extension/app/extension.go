package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	extensionscmdcontroller "github.com/gardener/gardener/extensions/pkg/controller/cmd"
	"github.com/gardener/gardener/extensions/pkg/controller/heartbeat"
	extensionswebhook "github.com/gardener/gardener/extensions/pkg/webhook"
	extensionscmdwebhook "github.com/gardener/gardener/extensions/pkg/webhook/cmd"
	"github.com/spf13/cobra"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/extension/controller/bastion"
	"github.com/metalkube/metalkube/components/extension/controller/controlplane"
	"github.com/metalkube/metalkube/components/extension/controller/healthcheck"
	"github.com/metalkube/metalkube/components/extension/controller/infrastructure"
	"github.com/metalkube/metalkube/components/extension/controller/worker"
	"github.com/metalkube/metalkube/components/extension/provider"
	"github.com/metalkube/metalkube/components/extension/scheme"
	controlplanewebhook "github.com/metalkube/metalkube/components/extension/webhook/controlplane"
	"github.com/metalkube/metalkube/shared/component"
	"github.com/metalkube/metalkube/shared/version"
)

// Controller names (values of --controllers / --disable-controllers).
const (
	ControllerInfrastructure = infrastructure.ControllerName
	ControllerWorker         = worker.ControllerName
	ControllerControlPlane   = controlplane.ControllerName
	ControllerHealthCheck    = healthcheck.ControllerName
	ControllerHeartbeat      = "heartbeat"
	ControllerBastion        = bastion.ControllerName
)

// Name is the extension component's name: its command and logger.
const Name = "extension"

// Webhook names (values of --disable-webhooks).
const (
	WebhookControlPlane = controlplanewebhook.WebhookName
)

// Config is the completed configuration of the extension's controllers;
// tests build it directly.
type Config struct {
	Controllers ControllerOptions
	// Backend returns a shoot's bare-metal backend to the Infrastructure
	// controller, BastionBackend to the Bastion controller; nil: the shoot's
	// own, from its cloudprovider Secret (infrastructure.ShootBackend,
	// bastion.ShootBackend). The extension has no backend of its own.
	Backend        infrastructure.BackendFunc
	BastionBackend bastion.BackendFunc
	// LeaderElectionNamespace is the heartbeat's default namespace.
	LeaderElectionNamespace string
}

// ControllerSwitches returns the extension's controllers by name; each adds
// itself to a manager with cfg.
func ControllerSwitches(cfg *Config) *extensionscmdcontroller.SwitchOptions {
	ctrlOpts := func() controller.Options {
		return controller.Options{MaxConcurrentReconciles: cfg.Controllers.MaxConcurrentReconciles}
	}
	sw := []extensionscmdcontroller.NameToAddToManagerFunc{
		extensionscmdcontroller.Switch(ControllerInfrastructure, func(ctx context.Context, mgr manager.Manager) error {
			return infrastructure.AddToManager(ctx, mgr, infrastructure.AddOptions{Backend: cfg.Backend, Controller: ctrlOpts(),
				IgnoreOperationAnnotation: cfg.Controllers.IgnoreOperationAnnotation})
		}),
		extensionscmdcontroller.Switch(ControllerBastion, func(ctx context.Context, mgr manager.Manager) error {
			return bastion.AddToManager(ctx, mgr, bastion.AddOptions{Backend: cfg.BastionBackend, Controller: ctrlOpts(),
				IgnoreOperationAnnotation: cfg.Controllers.IgnoreOperationAnnotation})
		}),
		extensionscmdcontroller.Switch(ControllerWorker, func(ctx context.Context, mgr manager.Manager) error {
			return worker.AddToManager(ctx, mgr, worker.AddOptions{Controller: ctrlOpts(),
				IgnoreOperationAnnotation: cfg.Controllers.IgnoreOperationAnnotation})
		}),
		extensionscmdcontroller.Switch(ControllerControlPlane, func(ctx context.Context, mgr manager.Manager) error {
			return controlplane.AddToManager(ctx, mgr, controlplane.AddOptions{Image: cfg.Controllers.CCMImage, Controller: ctrlOpts(),
				IgnoreOperationAnnotation: cfg.Controllers.IgnoreOperationAnnotation})
		}),
		extensionscmdcontroller.Switch(ControllerHealthCheck, func(ctx context.Context, mgr manager.Manager) error {
			return healthcheck.AddToManager(ctx, mgr, healthcheck.AddOptions{Controller: ctrlOpts(), SyncPeriod: cfg.Controllers.HealthCheckSyncPeriod})
		}),
		extensionscmdcontroller.Switch(ControllerHeartbeat, func(_ context.Context, mgr manager.Manager) error {
			ns := cfg.Controllers.HeartbeatNamespace
			if ns == "" {
				ns = cfg.LeaderElectionNamespace
			}
			if ns == "" {
				return fmt.Errorf("%s controller: set --%s or --%s", ControllerHeartbeat, FlagHeartbeatNamespace, component.FlagLeaderElectionNamespace)
			}
			return heartbeat.Add(mgr, heartbeat.AddArgs{ExtensionName: provider.Name, Namespace: ns,
				RenewIntervalSeconds: int32(cfg.Controllers.HeartbeatRenewInterval / time.Second), Clock: clock.RealClock{}}) // #nosec G115 -- flag-sized
		}),
	}
	sw = append(sw, osSwitches(cfg)...)
	return extensionscmdcontroller.NewSwitchOptions(sw...)
}

// WebhookSwitches returns the extension's webhooks by name.
func WebhookSwitches(cfg *Config) *extensionscmdwebhook.SwitchOptions {
	return extensionscmdwebhook.NewSwitchOptions(
		extensionscmdwebhook.Switch(WebhookControlPlane, func(mgr manager.Manager) (*extensionswebhook.Webhook, error) {
			return controlplanewebhook.New(mgr, controlplanewebhook.AddOptions{MCMImage: cfg.Controllers.MCMImage})
		}),
	)
}

// NewCommand returns `metalkube extension`.
func NewCommand(context.Context) *cobra.Command {
	var (
		server     = NewServerOptions(Name, provider.Name)
		cfg        = &Config{}
		ctrlSwitch = ControllerSwitches(cfg)
		whServer   = &extensionscmdwebhook.ServerOptions{}
		whOpts     = extensionscmdwebhook.NewAddToManagerOptions(provider.Name, "", nil, nil, whServer, WebhookSwitches(cfg))
	)
	cmd := &cobra.Command{
		Use:   Name,
		Short: "Gardener provider extension for bare metal (Infrastructure, Worker, ControlPlane, OperatingSystemConfig, Bastion, webhooks)",
		Long: "Runs on a Gardener seed: reconciles Infrastructure (with the metal-stack firewall), Worker, ControlPlane, OperatingSystemConfig and Bastion resources of type " +
			provider.Type + ", runs health checks and the heartbeat, and serves the control plane webhook over TLS.",
		Example: "  # On a seed whose shoots run on IronCore's metal-operator (each shoot's cloudprovider\n" +
			"  # Secret says where; the chart's seed preset renders this):\n" +
			"  metalkube extension --webhook-config-mode=service --webhook-config-namespace=extension-provider-metalkube \\\n" +
			"    --leader-election-namespace=extension-provider-metalkube\n\n" +
			"  # Only the Infrastructure and Worker controllers, no webhooks:\n" +
			"  metalkube extension --controllers=infrastructure,worker --disable-webhooks=controlplane",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := errors.Join(server.Validate(), cfg.Controllers.Validate()); err != nil {
				return err
			}
			if err := ctrlSwitch.Complete(); err != nil {
				return fmt.Errorf("--%s: %w", FlagControllers, err)
			}
			if err := whOpts.Complete(); err != nil {
				return fmt.Errorf("webhooks: %w", err)
			}
			rc, err := server.Complete()
			if err != nil {
				return err
			}
			cfg.LeaderElectionNamespace = server.Runtime.Manager.LeaderElectionNamespace
			ctx := cmd.Context()
			mgr, err := rc.NewManager(ctx, scheme.Seed(), server.WebhookServer, ManagerOptions)
			if err != nil {
				return err
			}
			if err := ctrlSwitch.Completed().AddToManager(ctx, mgr); err != nil {
				return fmt.Errorf("add controllers: %w", err)
			}
			return serve(ctx, mgr, whOpts, server.WebhookCertDir)
		},
	}
	fs := cmd.Flags()
	server.AddFlags(fs)
	cfg.Controllers.AddFlags(fs, version.Image())
	ctrlSwitch.AddFlags(fs)
	whOpts.AddFlags(fs)
	return cmd
}

// ManagerOptions are the manager options of the extension and the admission
// controller: Secrets are read from the API server, never cached, so neither
// lists or watches every Secret of the seed (or garden) nor holds them in
// memory. Leases (the heartbeat's, read once per renewal) are not cached
// either: a cache would list and watch every Lease of the cluster, which
// the chart's RBAC rightly does not allow (it grants the named leases).
func ManagerOptions(o *manager.Options) {
	component.SecretsUncached(o)
	o.Client.Cache.DisableFor = append(o.Client.Cache.DisableFor, &coordinationv1.Lease{})
}
