package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/metalkube/metalkube/e2e/demo"
	"github.com/metalkube/metalkube/shared/component"
)

// Flag names.
const (
	flagServers    = "servers"
	flagWorkers    = "workers"
	flagKubeconfig = "kubeconfig"
	flagLogs       = "logs"
	flagHold       = "hold"
	flagLogFormat  = "log-format"
	flagFirewall   = "firewall"
	flagRealNode   = "real-node"
)

func main() { os.Exit(run()) }

func run() int {
	opts := demo.Options{Out: os.Stdout}
	// Its own flag set: controller-runtime registers --kubeconfig on the global one.
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	fs.IntVar(&opts.Servers, flagServers, 6, "servers in the fleet (one mock BMC each)")
	fs.IntVar(&opts.Workers, flagWorkers, 3, "machines in the shoot's worker pool")
	fs.StringVar(&opts.Kubeconfig, flagKubeconfig, "bin/demo.kubeconfig", "where to write the kubeconfig")
	fs.StringVar(&opts.LogDir, flagLogs, "bin/demo-logs", "where the components' logs and a copy of the progress ("+demo.ProgressLog+") go")
	fs.BoolVar(&opts.Hold, flagHold, true, "keep the shoot running until Ctrl-C")
	fs.StringVar(&opts.LogFormat, flagLogFormat, component.LogFormatConsole, "log format of every metalkube process: console|json")
	firewall := fs.String(flagFirewall, "auto", "run the firewall step (needs network namespaces): auto|on|off")
	realNode := fs.String(flagRealNode, "auto", "first run the real node (kubelet, containerd; needs root and hack/node.sh's binaries) and helm install the chart's roles into it: auto|on|off")
	_ = fs.Parse(os.Args[1:])
	nodeMode, ok := map[string]demo.NodeMode{"auto": demo.NodeAuto, "on": demo.NodeOn, "off": demo.NodeOff}[*realNode]
	if !ok {
		fmt.Fprintf(os.Stderr, "demo: --%s=%q: want auto, on or off\n", flagRealNode, *realNode)
		return 2
	}
	opts.RealNode = nodeMode
	mode, ok := map[string]demo.FirewallMode{"auto": demo.FirewallAuto, "on": demo.FirewallOn, "off": demo.FirewallOff}[*firewall]
	if !ok {
		fmt.Fprintf(os.Stderr, "demo: --%s=%q: want auto, on or off\n", flagFirewall, *firewall)
		return 2
	}
	opts.Firewall = mode
	if opts.LogFormat != component.LogFormatConsole && opts.LogFormat != component.LogFormatJSON {
		fmt.Fprintf(os.Stderr, "demo: --%s=%q: want console or json\n", flagLogFormat, opts.LogFormat)
		return 2
	}
	// A reader that went away (`make demo | tee demo.log`, Ctrl-C ends tee
	// too) must not kill the demo before it cleaned up: writes to it fail
	// instead, and the progress goes on into the log directory.
	signal.Ignore(syscall.SIGPIPE)
	ctrl.SetLogger(logr.Discard()) // the fleet's; the components log into -logs
	// Ctrl-C, a closed terminal or a kill: delete the shoot, stop every
	// process and exit 0 if all of it went well. A second signal ends the
	// demo at once; its processes die with it (parent-death signal).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	if err := demo.Run(ctx, opts); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return 1
	}
	return 0
}
