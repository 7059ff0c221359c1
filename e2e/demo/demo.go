package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/metalkube/metalkube/e2e/shoot"
	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit/netns"
)

// Options configure a demo run.
type Options struct {
	// Out receives the progress.
	Out io.Writer
	// Servers in the fleet; Workers in the shoot's pool.
	Servers, Workers int
	// Kubeconfig is where the kubeconfig is written; empty: only the
	// environment's temporary one.
	Kubeconfig string
	// LogDir keeps the components' logs; empty: a temporary directory.
	LogDir string
	// Hold keeps the shoot running after it is up until ctx is done, then
	// deletes it.
	Hold bool
	// Firewall runs the firewall step (needs network namespaces); Auto decides
	// by whether this process can create them.
	Firewall FirewallMode
}

// FirewallMode says whether the demo runs the firewall step.
type FirewallMode int

// Firewall modes.
const (
	FirewallAuto FirewallMode = iota
	FirewallOn
	FirewallOff
)

// Run starts the control plane and runs the shoot flow: everything up to a
// running shoot with a LoadBalancer IP and firewall rules, then (after ctx is
// done, with Hold) its deletion and the leak check.
func Run(ctx context.Context, opts Options) (err error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	start := time.Now()
	fmt.Fprintf(opts.Out, "[%6.1fs] start the control plane (kube-apiserver + etcd, CRDs of metal-operator, Gardener, MCM, CAPI IPAM, metalkube)\n", 0.0)
	envOpts, err := shoot.EnvOptions()
	if err != nil {
		return err
	}
	env, err := testenv.Start(envOpts)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, env.Stop()) }()
	kubeconfig := env.Kubeconfig
	if opts.Kubeconfig != "" {
		if err := os.MkdirAll(filepath.Dir(opts.Kubeconfig), 0o755); err != nil {
			return err
		}
		if err := testenv.WriteKubeconfig(env.Config, opts.Kubeconfig); err != nil {
			return err
		}
		kubeconfig = opts.Kubeconfig
	}
	if opts.LogDir == "" {
		if opts.LogDir, err = os.MkdirTemp("", "metalkube-demo-"); err != nil {
			return err
		}
	}
	firewall := opts.Firewall == FirewallOn
	if opts.Firewall == FirewallAuto {
		var why string
		if firewall, why = netns.Available(); !firewall {
			fmt.Fprintf(opts.Out, "           (firewall step skipped: %s)\n", why)
		}
	}
	fmt.Fprintf(opts.Out, "           API server %s (%.1fs)\n", env.Config.Host, time.Since(start).Seconds())
	flow := shoot.New(shoot.Input{Env: env, Out: opts.Out, LogDir: opts.LogDir, Servers: opts.Servers, Workers: opts.Workers, Firewall: firewall})
	defer func() { err = errors.Join(err, flow.Stop()) }()
	steps := flow.Steps()
	up, down := steps[:len(steps)-2], steps[len(steps)-2:] // delete + leak check
	if err := flow.RunSteps(ctx, up); err != nil {
		return err
	}
	fmt.Fprintf(opts.Out, "\n  the shoot is up. kubeconfig: %s\n  try: kubectl --kubeconfig %s get servers,serverclaims,machines,nodes,svc -A\n  component logs: %s\n\n", kubeconfig, kubeconfig, opts.LogDir)
	if opts.Hold {
		fmt.Fprintln(opts.Out, "  press Ctrl-C to delete the shoot and stop")
		<-ctx.Done()
	}
	// Deleting runs even after Ctrl-C: a demo cleans up after itself.
	if err := flow.RunSteps(context.WithoutCancel(ctx), down); err != nil {
		return err
	}
	fmt.Fprintf(opts.Out, "[%6.1fs] done\n", time.Since(start).Seconds())
	return nil
}
