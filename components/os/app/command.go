package app

import (
	"context"

	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/os/controller/operatingsystemconfig"
	"github.com/metalkube/metalkube/shared/component"
	"github.com/metalkube/metalkube/shared/scheme"
)

// NewCommand returns `metalkube os`, which runs until its context ends.
func NewCommand(context.Context) *cobra.Command {
	opts := NewOptions()
	cmd := &cobra.Command{
		Use:   Name,
		Short: "Render Gardener OperatingSystemConfigs into Ignition or cloud-init user data",
		Long: `os reconciles Gardener OperatingSystemConfigs (extensions.gardener.cloud/v1alpha1) on a
seed, as Gardener's OS extensions do: a provision OSC becomes Ignition (spec 3.5) or cloud-init
user data in a Secret, the format chosen per OSC type; a reconcile OSC gets the units and files
gardener-node-agent applies, with metalkube's DNS, NTP and registry mirror settings.`,
		Example: `  # Next to gardenlet on a seed: Ignition for Flatcar and Garden Linux, cloud-init for the rest:
  metalkube os --types=gardenlinux,flatcar,ubuntu --formats=gardenlinux=ignition,flatcar=ignition

  # Outside the seed (a kubeconfig instead of the pod's service account), reacting to every
  # change instead of waiting for gardenlet's operation annotation:
  metalkube os --kubeconfig=seed.kubeconfig --leader-election-namespace=garden --ignore-operation-annotation`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := opts.Complete()
			if err != nil {
				return err
			}
			return Run(cmd.Context(), cfg)
		},
	}
	opts.AddFlags(cmd.Flags())
	return cmd
}

// Run starts a manager with the controller and blocks until ctx ends.
func Run(ctx context.Context, cfg *Config) error {
	mgr, err := cfg.Runtime.NewManager(ctx, scheme.New(extensionsv1alpha1.AddToScheme), ManagerOptions)
	if err != nil {
		return err
	}
	if err := AddToManager(ctx, mgr, cfg.Add); err != nil {
		return err
	}
	mgr.GetLogger().Info("OperatingSystemConfig controller", "types", cfg.Add.Types, "formats", cfg.Add.Formats, "defaultFormat", cfg.Add.DefaultFormat)
	return component.Start(ctx, mgr)
}

// ManagerOptions are the manager options the controller needs: Secrets
// are read from the API server, never cached (a seed holds many Secrets;
// the controller reads the few an OSC refers to and writes its results).
func ManagerOptions(o *manager.Options) { component.SecretsUncached(o) }

// AddToManager adds the controller to a manager.
func AddToManager(ctx context.Context, mgr manager.Manager, add operatingsystemconfig.AddOptions) error {
	return operatingsystemconfig.AddToManager(ctx, mgr, add)
}
