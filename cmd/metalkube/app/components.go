package app

import (
	"context"

	"github.com/spf13/cobra"
)

// components returns the subcommand of every component that works. A component
// appears here when it is built, not before.
func components(ctx context.Context) []*cobra.Command {
	_ = ctx
	return nil
}
