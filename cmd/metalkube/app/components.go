package app

import (
	"context"

	"github.com/spf13/cobra"

	capi "github.com/metalkube/metalkube/components/capi/app"
	ccm "github.com/metalkube/metalkube/components/ccm/app"
	csi "github.com/metalkube/metalkube/components/csi/app"
	extension "github.com/metalkube/metalkube/components/extension/app"
	firewall "github.com/metalkube/metalkube/components/firewall/app"
	lb "github.com/metalkube/metalkube/components/lb/app"
	mcm "github.com/metalkube/metalkube/components/mcm/app"
	osc "github.com/metalkube/metalkube/components/os/app"
)

// components returns the subcommand of every component that works. A component
// appears here when it is built, not before.
func components(ctx context.Context) []*cobra.Command {
	return []*cobra.Command{
		ccm.NewCommand(ctx),
		lb.NewCommand(ctx),
		mcm.NewCommand(ctx),
		osc.NewCommand(ctx),
		firewall.NewCommand(ctx),
		extension.NewCommand(ctx),
		extension.NewAdmissionCommand(ctx),
		csi.NewCommand(ctx),
		capi.NewCommand(ctx),
	}
}
