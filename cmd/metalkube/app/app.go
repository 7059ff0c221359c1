package app

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/metalkube/metalkube/shared/component"
	"github.com/metalkube/metalkube/shared/version"
)

// Name is the binary's name, and the prefix of its multicall links.
const Name = "metalkube"

// NewRootCommand returns the root command with every component's subcommand.
// The root alone owns logging: before any subcommand runs it builds the one
// logger from --log-level and --log-format, writing to the command's error
// stream, hands it to controller-runtime and klog and puts it into the
// subcommand's context.
func NewRootCommand(ctx context.Context) *cobra.Command {
	logging := &component.Logging{}
	root := &cobra.Command{
		Use:           Name,
		Short:         "metalkube plugs bare-metal fleets into Kubernetes and Gardener",
		Long:          "metalkube is one binary for every integration controller a bare-metal provider needs.\nRun a component with `metalkube <component>`, or through a link named metalkube-<component>.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			ctx, log, err := logging.Setup(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cmd.SetContext(ctx)
			if soft, err := component.SetMemoryLimit(component.CgroupRoot); err != nil {
				log.Info("Not setting a Go memory limit", "reason", err.Error())
			} else if soft > 0 {
				log.V(1).Info("Go memory limit from the container's memory limit", "bytes", soft, "share", component.MemoryLimitShare)
			}
			log.WithName(cmd.Name()).V(1).Info("Running", "command", cmd.CommandPath(), "flags", changedFlags(cmd))
			return nil
		},
	}
	logging.AddFlags(root.PersistentFlags())
	root.AddCommand(newVersionCommand())
	for _, c := range components(ctx) {
		root.AddCommand(c)
	}
	return root
}

// changedFlags lists the flags given on the command line, for the debug log.
// Secrets never are flags (they come from files or the environment).
func changedFlags(cmd *cobra.Command) []string {
	var out []string
	cmd.Flags().Visit(func(f *pflag.Flag) { out = append(out, "--"+f.Name+"="+f.Value.String()) })
	return out
}

// Main runs the binary with args (args[0] is the name it was called under) and
// returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := NewRootCommand(ctx)
	// Upstream libraries (k8s.io/component-base) register --version on the
	// global flag set, which cobra merges into the root; `metalkube version` is
	// the documented way, so keep theirs out of the help.
	if f := pflag.CommandLine.Lookup("version"); f != nil {
		f.Hidden = true
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(dispatch(root, args))
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}

// dispatch turns a call as metalkube-<component> into metalkube <component>.
func dispatch(root *cobra.Command, args []string) []string {
	if len(args) == 0 {
		return nil
	}
	base := strings.TrimSuffix(filepath.Base(args[0]), ".exe")
	if sub, ok := strings.CutPrefix(base, Name+"-"); ok {
		for _, c := range root.Commands() {
			if c.Name() == sub {
				return append([]string{sub}, args[1:]...)
			}
		}
	}
	return args[1:]
}

// Versions of the libraries the binary is built on, reported by `metalkube version`.
var reportedModules = []string{
	"k8s.io/client-go", "k8s.io/cloud-provider", "sigs.k8s.io/controller-runtime",
	"github.com/gardener/gardener", "github.com/gardener/machine-controller-manager",
	"github.com/ironcore-dev/metal-operator", "github.com/metal-stack/metal-go",
	"github.com/google/nftables", "github.com/coreos/ignition/v2",
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version and the Kubernetes library versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "metalkube %s\ncommit: %s\nimage: %s\ngo: %s %s/%s\n", version.Version, version.Commit, version.Image(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if info, ok := debug.ReadBuildInfo(); ok {
				for _, dep := range info.Deps {
					for _, m := range reportedModules {
						if dep.Path == m {
							fmt.Fprintf(w, "%s: %s\n", m, dep.Version)
						}
					}
				}
			}
			return nil
		},
	}
}
