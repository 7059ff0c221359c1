package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/metalkube/metalkube/e2e/framework"
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
	// LogFormat is every metalkube process's log format: json or console
	// (empty: console).
	LogFormat string
	// Firewall runs the firewall step (needs network namespaces); Auto decides
	// by whether this process can create them.
	Firewall FirewallMode
	// RealNode runs the real node and installs the chart into it first;
	// Auto decides by whether it can run here (root, its binaries built).
	RealNode NodeMode
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
	if opts.LogDir == "" {
		if opts.LogDir, err = os.MkdirTemp("", "metalkube-demo-"); err != nil {
			return err
		}
	}
	if err := prepareLogDir(opts.LogDir); err != nil {
		return err
	}
	progress, err := os.Create(filepath.Join(opts.LogDir, ProgressLog))
	if err != nil {
		return err
	}
	defer progress.Close()
	opts.Out = &progressWriter{out: opts.Out, file: progress}
	start := time.Now()
	onNode, err := useRealNode(opts.RealNode, opts.Out)
	if err != nil {
		return err
	}
	if onNode {
		stop, err := startRealNode(ctx, opts.Out, opts.LogDir, start)
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(opts.Out, "[%6.1fs] interrupted while starting the real node (%v)\n", time.Since(start).Seconds(), err)
				return nil
			}
			return err
		}
		defer func() { err = errors.Join(err, stop(context.WithoutCancel(ctx))) }()
	}
	fmt.Fprintf(opts.Out, "[%6.1fs] start the control plane (kube-apiserver + etcd, CRDs of metal-operator, Gardener, MCM, CAPI IPAM, metalkube)\n", time.Since(start).Seconds())
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
	firewall := opts.Firewall == FirewallOn
	if opts.Firewall == FirewallAuto {
		var why string
		if firewall, why = netns.Available(); !firewall {
			fmt.Fprintf(opts.Out, "           (firewall step skipped: %s)\n", why)
		}
	}
	fmt.Fprintf(opts.Out, "           API server %s (%.1fs)\n", env.Config.Host, time.Since(start).Seconds())
	flow := shoot.New(shoot.Input{Env: env, Out: opts.Out, LogDir: opts.LogDir, Servers: opts.Servers, Workers: opts.Workers, Firewall: firewall, LogFormat: opts.LogFormat})
	defer func() { err = errors.Join(err, flow.Stop()) }()
	steps := flow.Steps()
	i := slices.IndexFunc(steps, func(s shoot.Step) bool { return s.Name == shoot.StepDeleteShoot })
	if i < 0 {
		return fmt.Errorf("the flow has no step %q", shoot.StepDeleteShoot)
	}
	up, down := steps[:i], steps[i:] // delete, leak check, log scan
	if err := flow.RunSteps(ctx, up); err != nil {
		if ctx.Err() != nil {
			// Ctrl-C before the shoot is up: whatever was created lives in
			// this run's control plane, which stops with every process below.
			fmt.Fprintf(opts.Out, "[%6.1fs] interrupted while setting up (%v): stopping every process and the control plane\n", time.Since(start).Seconds(), err)
			return nil
		}
		return err
	}
	token, err := framework.MetricsReaderToken(ctx, env.Config)
	if err != nil {
		return err
	}
	printEndpoints(ctx, opts.Out, flow.Processes(), token)
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

// ProgressLog is the file in the log directory that keeps a copy of the
// progress.
const ProgressLog = "demo.log"

// progressWriter writes the progress to the terminal and to a file, and
// never fails: a terminal or pipe that went away (`make demo | tee` after
// Ctrl-C) must not stop the cleanup, and the file keeps what it missed.
type progressWriter struct {
	out  io.Writer
	file io.Writer
}

func (w *progressWriter) Write(p []byte) (int, error) {
	_, _ = w.file.Write(p)
	_, _ = w.out.Write(p)
	return len(p), nil
}

// printEndpoints lists, for every process of the flow, the HTTP health and
// metrics endpoints it serves (found from the sockets it listens on, asked
// for /healthz, /readyz and /metrics) and says so loudly of any socket not
// bound to loopback. The requests carry token, as Prometheus's carry its own.
func printEndpoints(ctx context.Context, out io.Writer, procs []*framework.Process, token string) {
	fmt.Fprintf(out, "\n  memory (RSS, and of that the process's own heap and stacks) and the health and metrics endpoints of every component\n  (its listening sockets, asked for %s with the token of %s):\n", "/healthz, /readyz, /metrics", framework.MetricsReader)
	for _, p := range procs {
		if done, _ := p.Exited(); done {
			fmt.Fprintf(out, "    %-50s exited (log %s)\n", p.Name, p.Log)
			continue
		}
		addrs, err := framework.Listeners(p.Pid())
		if err != nil {
			fmt.Fprintf(out, "    %-50s %v\n", p.Name, err)
			continue
		}
		var urls []string
		for _, e := range framework.ProbeEndpoints(ctx, addrs, token) {
			urls = append(urls, fmt.Sprintf("%s (%d)", e.URL, e.Status))
		}
		if len(urls) == 0 {
			urls = []string{"none"}
		}
		mem := "?"
		if m, err := framework.MemoryOf(p.Pid()); err == nil {
			mem = fmt.Sprintf("%d MB (own %d MB)", m.RSS>>20, m.Anonymous>>20)
		}
		fmt.Fprintf(out, "    %-50s RSS %-18s %s\n", p.Name, mem, strings.Join(urls, " "))
		for _, a := range addrs {
			if !a.Addr().IsLoopback() {
				fmt.Fprintf(out, "    %-50s %s %s\n", p.Name, NotLoopback, a)
			}
		}
	}
}

// NotLoopback marks a listening socket not bound to loopback in the
// endpoint summary.
const NotLoopback = "LISTENS BEYOND LOOPBACK:"

// prepareLogDir makes dir an empty directory for this run. What a previous
// demo left there (its logs, the webhook certificates of its CA, its pods'
// kubeconfigs for another API server) belongs to a control plane that is gone
// and would break this run, so a directory with a previous demo's progress
// log in it is emptied. A directory with other files in it is someone else's:
// it is refused, not emptied.
func prepareLogDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return fmt.Errorf("logs directory %s: %w", dir, err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, ProgressLog)); err != nil {
		return fmt.Errorf("logs directory %s is not empty and holds no %s of an earlier demo: choose another directory with --logs", dir, ProgressLog)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("logs directory %s: remove what the last demo left: %w", dir, err)
		}
	}
	return nil
}
