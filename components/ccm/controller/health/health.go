package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/metalkube/metalkube/shared/metal"
)

// Poller polls the backend and answers health checks from the last result:
// the process stays up during an outage, its /healthz turns red.
type Poller struct {
	Backend  metal.Health
	Interval time.Duration
	Log      logr.Logger

	mu   sync.Mutex
	last error
	seen bool
}

// Run polls until ctx is done.
func (h *Poller) Run(ctx context.Context) {
	if h.Interval == 0 {
		h.Interval = 10 * time.Second
	}
	t := time.NewTicker(h.Interval)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, h.Interval)
		err := h.Backend.Healthy(cctx)
		cancel()
		h.mu.Lock()
		if (err == nil) != (h.last == nil) || !h.seen {
			if err != nil {
				h.Log.Error(err, "bare-metal backend unhealthy")
			} else {
				h.Log.Info("bare-metal backend healthy")
			}
		}
		h.last, h.seen = err, true
		h.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check implements the controller manager's UnnamedHealthChecker.
func (h *Poller) Check(*http.Request) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// Running runs metalkube's controller-runtime manager and answers health
// checks for the controllers in it: once the manager has stopped while its
// context was still live, every check fails, so liveness restarts the
// process instead of a controller that only logged its stop.
type Running struct {
	mu      sync.Mutex
	stopped error
}

// Run calls start (the manager's Start) and records why it returned. It
// blocks; callers run it in a goroutine.
func (r *Running) Run(ctx context.Context, start func(context.Context) error, log logr.Logger) {
	err := start(ctx)
	if ctx.Err() != nil {
		return // shutting down
	}
	if err == nil {
		err = errors.New("returned without an error")
	}
	log.Error(err, "metalkube controllers stopped")
	r.mu.Lock()
	r.stopped = fmt.Errorf("metalkube controllers stopped: %w", err)
	r.mu.Unlock()
}

// Check implements the controller manager's UnnamedHealthChecker.
func (r *Running) Check(*http.Request) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}
