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
)

func main() {
	opts := demo.Options{Out: os.Stdout}
	// Its own flag set: controller-runtime registers --kubeconfig on the global one.
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	fs.IntVar(&opts.Servers, "servers", 6, "servers in the fleet (one mock BMC each)")
	fs.IntVar(&opts.Workers, "workers", 3, "machines in the shoot's worker pool")
	fs.StringVar(&opts.Kubeconfig, "kubeconfig", "bin/demo.kubeconfig", "where to write the kubeconfig")
	fs.StringVar(&opts.LogDir, "logs", "bin/demo-logs", "where the components' logs go")
	fs.BoolVar(&opts.Hold, "hold", true, "keep the shoot running until Ctrl-C")
	_ = fs.Parse(os.Args[1:])
	ctrl.SetLogger(logr.Discard()) // the fleet's; the components log into -logs
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo.Run(ctx, opts); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}
