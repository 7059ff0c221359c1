package controllers_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/metalkube/metalkube/components/ccm/controllers"
	"github.com/metalkube/metalkube/shared/metal/memory"
)

func TestHealthTurnsRedAndGreen(t *testing.T) {
	mem := memory.New(memory.Config{})
	h := &controllers.Health{Backend: mem, Interval: 10 * time.Millisecond, Log: logr.Discard()}
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
