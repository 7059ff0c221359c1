package fleet

import (
	"context"
	"errors"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/go-logr/logr"
	mockbmc "github.com/ironcore-dev/metal-operator/bmc/mock/server"
)

// TestMockBMCListenFailure checks that a mock BMC whose port is taken is
// reported as such at once (startMockBMC then moves to another port), instead
// of being taken for a slow start: the mock reports a failed listen only to
// its logger.
func TestMockBMCListenFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Whatever holds the port answers every request with an error.
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not a BMC", http.StatusServiceUnavailable)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	errs := make(chan error, 1)
	mock := mockbmc.NewMockServer(logr.New(errorSink{errs}), l.Addr().String())
	go func() { _ = mock.Start(ctx) }()
	err = setSystemUUID(ctx, l.Addr().String(), "uuid-1", errs)
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("setSystemUUID on a taken port = %v, want an error wrapping EADDRINUSE", err)
	}
	t.Log(err)

	b, err := startMockBMC(ctx, "uuid-2")
	if err != nil {
		t.Fatalf("startMockBMC: %v", err)
	}
	if b.addr == "" {
		t.Fatal("no address")
	}
}
