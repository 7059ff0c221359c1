package health_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/metalkube/metalkube/components/ccm/controller/health"
	"github.com/metalkube/metalkube/shared/metal/memory"
)

func TestHealthTurnsRedAndGreen(t *testing.T) {
	mem := memory.New(memory.Config{})
	h := &health.Poller{Backend: mem, Interval: 10 * time.Millisecond, Log: logr.Discard()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx)
	wait := func(red bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); (h.Check(nil) != nil) != red; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("health check red=%v not reached: %v", red, h.Check(nil))
			}
		}
	}
	wait(false)
	mem.SetUnavailable(true)
	wait(true)
	mem.SetUnavailable(false)
	wait(false)
}

func TestRunningFailsOnceTheManagerStops(t *testing.T) {
	var r health.Running
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan error)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx, func(context.Context) error { return <-stop }, logr.Discard())
	}()
	if err := r.Check(nil); err != nil {
		t.Fatalf("check while running: %v", err)
	}
	stop <- errors.New("cache did not sync")
	<-done
	if err := r.Check(nil); err == nil || !strings.Contains(err.Error(), "cache did not sync") {
		t.Fatalf("check after the manager stopped: %v, want the stop's reason", err)
	}

	// A stop because the process shuts down is not a failure.
	var shut health.Running
	sctx, scancel := context.WithCancel(context.Background())
	scancel()
	shut.Run(sctx, func(ctx context.Context) error { return ctx.Err() }, logr.Discard())
	if err := shut.Check(nil); err != nil {
		t.Fatalf("check after a shutdown: %v", err)
	}
}
