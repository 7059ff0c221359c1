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
