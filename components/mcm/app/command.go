package app

import (
	"context"

	"github.com/spf13/cobra"
)

// NewCommand returns `metalkube mcm`, which runs until ctx is done.
func NewCommand(context.Context) *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   Name,
		Short: "machine-controller-manager provider for bare-metal servers",
		Long: `mcm runs machine-controller-manager's provider controller with metalkube's driver: it
turns Machines (machine.sapcloud.io/v1alpha1) into bare-metal servers of the backend chosen
by --backend, and frees them when the Machines go. MachineClasses carry a
mcm.metalkube.io/v1alpha1 ProviderSpec; their Secret holds the user data under "userData".`,
		SilenceUsage: true,
		Args:         cobra.NoArgs,
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
