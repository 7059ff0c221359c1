package app

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/metalkube/metalkube/shared/component"
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
		Example: `  # Next to machine-controller-manager in a shoot's control plane (Gardener's extension
  # renders this sidecar), on IronCore's metal-operator:
  metalkube mcm --control-kubeconfig=inClusterConfig --target-kubeconfig=/var/run/secrets/gardener.cloud/shoot/generic-kubeconfig/kubeconfig \
    --namespace=shoot--dev--prod --backend=ironcore --metal-kubeconfig=/srv/cloudprovider/kubeconfig --metal-namespace=metal

  # On metal-stack's metal-api:
  metalkube mcm --control-kubeconfig=inClusterConfig --namespace=shoot--dev--prod --backend=metalstack \
    --metal-api-url=https://metal-api.example.com --metal-api-hmac-file=/srv/cloudprovider/metalAPIHMac \
    --metal-project=00000000-0000-0000-0000-000000000001 --metal-partition=fra-equ01`,
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
	own := pflag.NewFlagSet(Name, pflag.ContinueOnError)
	o.AddOwnFlags(own)
	o.MCM.AddFlags(cmd.Flags())
	cmd.Flags().AddFlagSet(own)
	component.GroupUpstreamFlags(cmd, own, "machine-controller-manager flags (its provider app; Gardener sets them)")
	return cmd
}
