package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	mcmv1alpha1 "github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/shared/testkit"
)

func createMachines(t testing.TB, ns string, n int) {
	t.Helper()
	for i := range n {
		if err := env.Client.Create(context.Background(), newMachine(ns, fmt.Sprintf("%s-m%d", ns, i))); err != nil {
			t.Fatal(err)
		}
	}
}

// crashRuns is how many kill points one test run tries; each run has
// servers of its own, which the real metal-operator discovers first.
const crashRuns = 6

func crashSize(run int) string { return fmt.Sprintf("crash-%02d", run) }

// TestCrashDuringScaleUp kills the provider at a random backend request during
// a 5-machine scale-up (after the request reached the backend, before its
// answer was read), checks that no Machine ever holds two servers, then runs
// the provider again and checks that all five run on one server each with no
// orphaned claim. MCM_CRASH_SEED replays a seed.
func TestCrashDuringScaleUp(t *testing.T) {
	t.Parallel()
	const runs, machines = crashRuns, 5
	// A scale-up of five machines (without IPs) takes about 90 backend
	// requests; kill points are drawn below that, so every run is killed.
	const requests = 75
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MCM_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (MCM_CRASH_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	killAts := make([]int64, runs)
	for i := range killAts {
		killAts[i] = 1 + rng.Int64N(requests)
	}
	t.Run("runs", func(t *testing.T) {
		for run, killAt := range killAts {
			t.Run(fmt.Sprintf("kill-at-%d", killAt), func(t *testing.T) {
				t.Parallel()
				g := newFleet(t, crashSize(run), machines)
				g.createClass(t, false)
				createMachines(t, g.ns, machines)
				a := startProvider(t, g, providerOpts{killAt: killAt})
				select {
				case <-a.killed:
				case <-time.After(90 * time.Second):
					t.Logf("not killed: the scale-up took fewer than %d requests", killAt)
				}
				a.stop(t)
				checkOneServerPerMachine(t, observe(t, g.ns))

				b := startProvider(t, g, providerOpts{})
				defer b.stop(t)
				testkit.EventuallyWithin(t, 3*time.Minute, "all machines running after restart", settled(t, g.ns, machines, false))
				checkOneServerPerMachine(t, observe(t, g.ns))
			})
		}
	})
}

// TestBackendOutage flaps the backend (503 for random stretches) while five
// machines are created and deleted: the provider retries until every Machine
// runs on one server, and then until every server is released; no Machine is
// lost or duplicated and nothing is left behind.
func TestBackendOutage(t *testing.T) {
	t.Parallel()
	const machines = 5
	f := newFleet(t, "outage", machines+2)
	f.createClass(t, true)
	p := startProvider(t, f, providerOpts{outage: true})
	defer p.stop(t)
	ctx := context.Background()

	// flap switches the outage on until the backend has refused five
	// requests, then off and on at random (up 1-3s, down 0.3-1.5s) until
	// stopped.
	flap := func() (stop func()) {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer f.hw.SetOutage(false)
			f.hw.SetOutage(true)
			for base := p.refused.Load(); p.refused.Load() < base+5; {
				select {
				case <-ctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
			down := false
			for {
				f.hw.SetOutage(down)
				d := time.Duration(1000+rand.IntN(2000)) * time.Millisecond // up 1-3s
				if down {
					d = time.Duration(300+rand.IntN(1200)) * time.Millisecond // down 0.3-1.5s
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
				down = !down
			}
		}()
		return func() { cancel(); <-done }
	}

	createMachines(t, f.ns, machines)
	// Let the provider start (its backend health check must pass) and reach
	// the backend for the first Machines, then flap.
	testkit.EventuallyWithin(t, 30*time.Second, "provider started", func() error {
		if n := p.calls.Load(); n < 4 {
			return fmt.Errorf("%d backend requests", n)
		}
		return nil
	})
	// While the backend is down the provider stays alive (/healthz) but is
	// not ready (/readyz names the backend check); it is ready again once the
	// backend answers.
	probe := func(path string, want int, wantBody string) func() error {
		return func() error {
			code, body, err := p.probe(path)
			if err != nil {
				return err
			}
			if code != want || !strings.Contains(body, wantBody) {
				return fmt.Errorf("GET %s: %d %q, want %d with %q", path, code, body, want, wantBody)
			}
			return nil
		}
	}
	testkit.Eventually(t, "ready with the backend up", probe("/readyz", http.StatusOK, "[+]backend ok"))
	f.hw.SetOutage(true)
	testkit.Eventually(t, "not ready during the outage", probe("/readyz", http.StatusInternalServerError, "[-]backend failed"))
	testkit.Eventually(t, "alive during the outage", probe("/healthz", http.StatusOK, "[+]ping ok"))
	f.hw.SetOutage(false)
	testkit.Eventually(t, "ready again", probe("/readyz", http.StatusOK, "[+]backend ok"))
	stop := flap()
	// Running needs the backend; the flapping lets it through now and then.
	testkit.EventuallyWithin(t, 2*time.Minute, "machines running through the outage", func() error {
		checkOneServerPerMachine(t, observe(t, f.ns))
		return machinesRunning(f.ns, machines)()
	})
	stop()
	testkit.EventuallyWithin(t, 30*time.Second, "settled", settled(t, f.ns, machines, true))
	if n := p.refused.Load(); n == 0 {
		t.Errorf("the outage refused no backend request")
	} else {
		t.Logf("%d backend requests refused during creation", n)
	}

	refused := p.refused.Load()
	stop = flap()
	if err := env.Client.DeleteAllOf(ctx, &mcmv1alpha1.Machine{}, client.InNamespace(f.ns)); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyWithin(t, 2*time.Minute, "machines deleted through the outage", machinesGone(f.ns))
	stop()
	t.Logf("%d backend requests refused during deletion", p.refused.Load()-refused)
	checkEmpty(t, f.ns)
}

func machinesGone(ns string) func() error {
	return func() error {
		ms := &mcmv1alpha1.MachineList{}
		if err := env.Client.List(context.Background(), ms, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(ms.Items) > 0 {
			return fmt.Errorf("%d machines left", len(ms.Items))
		}
		return nil
	}
}
