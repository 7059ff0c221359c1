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

// TestSubcommandHelp: every component's help opens with its own description
// and shows examples, and every flag an example uses exists on that
// subcommand (examples that do not parse teach the wrong thing). Where a
// component embeds an upstream command, metalkube's flags come first.
func TestSubcommandHelp(t *testing.T) {
	root := NewRootCommand(context.Background())
	for _, c := range root.Commands() {
		if c.Name() == "version" || c.Name() == "completion" || c.Name() == "help" {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			if len(c.Long) < 80 || !strings.HasPrefix(c.Long, c.Name()+" ") && !strings.HasPrefix(c.Long, "The ") && !strings.HasPrefix(c.Long, "Runs ") {
				t.Errorf("description %q: want metalkube's own, opening with what %s is", c.Long, c.Name())
			}
			if strings.Contains(c.Long, `\n`) {
				t.Errorf("description holds a literal \\n: %q", c.Long)
			}
			if !c.HasExample() {
				t.Fatalf("no examples")
			}
			lines := 0
			for _, l := range strings.Split(c.Example, "\n") {
				l = strings.TrimSpace(l)
				if l == "" || strings.HasPrefix(l, "#") {
					continue
				}
				lines++
				for _, word := range strings.Fields(l) {
					name, ok := strings.CutPrefix(word, "--")
					if !ok {
						continue
					}
					name, _, _ = strings.Cut(name, "=")
					if c.Flags().Lookup(name) == nil && c.InheritedFlags().Lookup(name) == nil {
						t.Errorf("example uses --%s, which %s does not have: %s", name, c.CommandPath(), l)
					}
				}
			}
			if lines == 0 {
				t.Errorf("examples hold no command: %q", c.Example)
			}
		})
	}
	for _, tc := range []struct{ sub, own, upstream string }{
		{"ccm", "--metal-cluster", "cloud-controller-manager flags"},
		{"mcm", "--backend", "machine-controller-manager flags"},
	} {
		t.Run(tc.sub+" grouping", func(t *testing.T) {
			var out strings.Builder
			r := NewRootCommand(context.Background())
			r.SetOut(&out)
			r.SetArgs([]string{tc.sub, "--help"})
			if err := r.Execute(); err != nil {
				t.Fatal(err)
			}
			own, up := strings.Index(out.String(), tc.own), strings.Index(out.String(), tc.upstream)
			if own < 0 || up < 0 || own > up {
				t.Errorf("%s help: %s at %d, heading %q at %d; want metalkube's flags before the upstream heading", tc.sub, tc.own, own, tc.upstream, up)
			}
		})
	}
}
