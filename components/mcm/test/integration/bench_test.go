package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	mcmv1alpha1 "github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/shared/testkit"
)

// BenchmarkScaleUp50 scales a MachineDeployment from 0 to 50 with the real
// machine-controller-manager and metalkube's provider on the ironcore backend
// and the real metal-operator, and reports the time until all 50 Machines run (and
// the median Machine's), and the backend requests per machine. Run it with
// -benchtime=1x: one iteration is one scale-up (the servers are not given
// back, so there are servers for one). "ip" gives every machine an
// IP address from Cluster API IPAM, "no-ip" does not: their difference is
// what the address claims cost.
func BenchmarkScaleUp50(b *testing.B) {
	b.Run("ip", func(b *testing.B) { benchScaleUp(b, "ip", true) })
	b.Run("no-ip", func(b *testing.B) { benchScaleUp(b, "noip", false) })
}

func benchScaleUp(b *testing.B, name string, withIP bool) {
	const machines = 50
	var total time.Duration
	var calls int64
	var medians []time.Duration
	for range b.N {
		b.StopTimer()
		f := newFleet(b, "bench-"+name, machines)
		startMCM(b, f.ns)
		f.createClass(b, withIP)
		p := startProvider(b, f, providerOpts{})
		if err := env.Client.Create(context.Background(), newDeployment(f.ns, 0)); err != nil {
			b.Fatal(err)
		}
		testkit.EventuallyWithin(b, 30*time.Second, "provider started", func() error {
			if p.calls.Load() == 0 {
				return fmt.Errorf("no backend request yet")
			}
			return nil
		})
		before := p.calls.Load()
		b.StartTimer()

		start := time.Now()
		scale(b, f.ns, machines)
		running := map[string]time.Duration{}
		testkit.EventuallyWithin(b, 5*time.Minute, "50 machines running", func() error {
			ms := &mcmv1alpha1.MachineList{}
			if err := env.Client.List(context.Background(), ms, client.InNamespace(f.ns)); err != nil {
				return err
			}
			for _, m := range ms.Items {
				if _, ok := running[m.Name]; !ok && m.Status.CurrentStatus.Phase == mcmv1alpha1.MachineRunning {
					running[m.Name] = time.Since(start)
				}
			}
			if len(running) < machines {
				return fmt.Errorf("%d of %d running", len(running), machines)
			}
			return nil
		})
		total += time.Since(start)

		b.StopTimer()
		calls += p.calls.Load() - before
		ds := make([]time.Duration, 0, len(running))
		for _, d := range running {
			ds = append(ds, d)
		}
		slices.Sort(ds)
		medians = append(medians, ds[len(ds)/2])
		checkOneServerPerMachine(b, observe(b, f.ns))
		b.Logf("backend requests: %s", p.requestCounts())
		p.stop(b)
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-to-all-running")
	slices.Sort(medians)
	b.ReportMetric(medians[len(medians)/2].Seconds(), "s-median-machine")
	b.ReportMetric(float64(calls)/float64(b.N*machines), "backend-requests/machine")
}
