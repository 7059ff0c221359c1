package app

import (
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestFlagPlaceholders: pflag takes the first `quoted` words of a usage
// string as the value's placeholder in --help (`--ccm-image metalkube ccm`
// read as a flag taking "metalkube ccm"); every placeholder must be one word.
func TestFlagPlaceholders(t *testing.T) {
	var visit func(c *cobra.Command)
	visit = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if name, _ := pflag.UnquoteUsage(f); strings.ContainsAny(name, " \t") {
				t.Errorf("%s --%s: help shows the placeholder %q (backquotes in its usage)", c.CommandPath(), f.Name, name)
			}
		})
		for _, sub := range c.Commands() {
			visit(sub)
		}
	}
	visit(NewRootCommand(context.Background()))
}
