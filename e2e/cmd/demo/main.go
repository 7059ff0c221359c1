// Command demo runs metalkube's demo: the local control plane, the fleet
// emulator and a cluster walked through its life, with progress on stdout. It
// keeps running until Ctrl-C (or exits when -hold=false).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/metalkube/metalkube/e2e/demo"
)

func main() {
	opts := demo.Options{Out: os.Stdout}
	flag.IntVar(&opts.Servers, "servers", 8, "servers in the emulated fleet")
	flag.IntVar(&opts.Machines, "machines", 4, "machines to allocate")
	flag.StringVar(&opts.Kubeconfig, "kubeconfig", "bin/demo.kubeconfig", "where to write the kubeconfig")
	flag.BoolVar(&opts.Hold, "hold", true, "keep running after the walk until Ctrl-C")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo.Run(ctx, opts); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}
