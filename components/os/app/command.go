package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/os/operatingsystemconfig"
)

// NewCommand returns `metalkube os`, which runs until ctx ends.
func NewCommand(ctx context.Context) *cobra.Command {
	opts := NewOptions()
	cmd := &cobra.Command{
		Use:   "os",
		Short: "Render Gardener OperatingSystemConfigs into Ignition or cloud-init user data",
		Long: "metalkube os reconciles Gardener OperatingSystemConfigs (extensions.gardener.cloud/v1alpha1):\n" +
			"provision OSCs become Ignition (spec 3.5) or cloud-init user data in a Secret,\n" +
			"reconcile OSCs get metalkube's DNS, NTP and registry mirror settings as extension units and files.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			cfg, err := opts.Complete()
			if err != nil {
				return err
			}
			return Run(ctx, cfg)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

// Run starts a manager with the controller and blocks until ctx ends.
func Run(ctx context.Context, cfg *Config) error {
	log := logf.FromContext(ctx).WithName("os")
	mgr, err := manager.New(cfg.REST, cfg.Manager)
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if err := AddToManager(ctx, mgr, cfg.Add); err != nil {
		return err
	}
	log.Info("Starting OperatingSystemConfig controller", "types", cfg.Add.Types, "formats", cfg.Add.Formats, "defaultFormat", cfg.Add.DefaultFormat)
	return mgr.Start(ctx)
}

// AddToManager adds the controller and the health checks to a manager: /healthz
// answers while the process runs, /readyz once the caches have synced.
func AddToManager(ctx context.Context, mgr manager.Manager, add operatingsystemconfig.AddOptions) error {
	if err := operatingsystemconfig.AddToManager(ctx, mgr, add); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("cache-sync", func(req *http.Request) error {
		c, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(c) {
			return fmt.Errorf("caches not synced")
		}
		return nil
	}); err != nil {
		return fmt.Errorf("add readiness check: %w", err)
	}
	return nil
}
