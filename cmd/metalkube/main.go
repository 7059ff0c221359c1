// Command metalkube is the multicall binary of every metalkube component.
//
// It dispatches by subcommand (metalkube ccm ...) or by the name it is called
// under: a link named metalkube-ccm runs metalkube ccm.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/metalkube/metalkube/cmd/metalkube/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
