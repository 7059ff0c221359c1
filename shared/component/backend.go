package component

import (
	"context"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/healthz"

	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/options"
)

// ReadyzBackend names the readiness check on the bare-metal backend.
const ReadyzBackend = "backend"

// NewBackend builds the bare-metal client the flags describe, with the one
// policy every component follows: while the backend does not answer
// (metal.ErrUnavailable) it logs, waits (1s doubling to 30s) and tries again
// until ctx ends, so that a backend outage at start does not crash-loop the
// component; any other error (a wrong flag, rejected credentials) is
// returned at once.
func NewBackend(ctx context.Context, name string, o *options.Backend) (metal.Client, error) {
	log := Logger(ctx, name)
	for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
		c, err := o.NewClient(ctx)
		if err == nil || !metal.IsUnavailable(err) {
			return c, err
		}
		log.Error(err, "Bare-metal backend unavailable at start: retrying until it answers (wrong flags or rejected credentials fail at once)", "backend", o.Name, "in", delay)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(delay):
		}
	}
}

// BackendReady is a readiness check that passes while the backend answers.
func BackendReady(c metal.Client) healthz.Checker {
	return func(req *http.Request) error { return c.Healthy(req.Context()) }
}
