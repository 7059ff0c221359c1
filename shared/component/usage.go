package component

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// usageColumns is the width flag descriptions are wrapped to; 0: not wrapped, as cobra prints them.
const usageColumns = 0

// GroupUpstreamFlags makes cmd's help read like the rest of metalkube's:
// description, usage, examples, then the component's own flags (those in
// own, and --help), then every other flag of cmd under heading (the flags an
// upstream library it embeds brings, such as machine-controller-manager's),
// then the flags every subcommand shares.
func GroupUpstreamFlags(cmd *cobra.Command, own *pflag.FlagSet, heading string) {
	cmd.SetUsageFunc(func(c *cobra.Command) error {
		writeUsage(c.OutOrStderr(), c, own, heading)
		return nil
	})
	cmd.SetHelpFunc(func(c *cobra.Command, _ []string) {
		w := c.OutOrStdout()
		desc := c.Long
		if desc == "" {
			desc = c.Short
		}
		fmt.Fprintf(w, "%s\n\n", strings.TrimRight(desc, "\n"))
		writeUsage(w, c, own, heading)
	})
}

func writeUsage(w io.Writer, c *cobra.Command, own *pflag.FlagSet, heading string) {
	fmt.Fprintf(w, "Usage:\n  %s\n", c.UseLine())
	if c.HasExample() {
		fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(c.Example, "\n"))
	}
	mine := pflag.NewFlagSet("own", pflag.ContinueOnError)
	theirs := pflag.NewFlagSet("upstream", pflag.ContinueOnError)
	c.LocalFlags().VisitAll(func(f *pflag.Flag) {
		switch {
		case f.Hidden:
		case own.Lookup(f.Name) != nil || f.Name == "help":
			mine.AddFlag(f)
		default:
			theirs.AddFlag(f)
		}
	})
	fmt.Fprintf(w, "\nFlags:\n%s", mine.FlagUsagesWrapped(usageColumns))
	if theirs.HasAvailableFlags() {
		fmt.Fprintf(w, "\n%s:\n%s", heading, theirs.FlagUsagesWrapped(usageColumns))
	}
	if c.HasAvailableInheritedFlags() {
		fmt.Fprintf(w, "\nGlobal Flags:\n%s", c.InheritedFlags().FlagUsagesWrapped(usageColumns))
	}
}
