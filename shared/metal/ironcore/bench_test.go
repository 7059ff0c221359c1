package ironcore_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/ironcore"
)

var benchBackend struct {
	once sync.Once
	b    *ironcore.Backend
}

// BenchmarkAllocate100 allocates 100 machines through the ironcore backend on
// the real metal-operator (100 mock BMCs) and waits until all are Running, then frees them (not
// timed). It reports the per-machine latency (p50, p99) and throughput, for
// allocation one at a time (the reference) and 20 at a time.
func BenchmarkAllocate100(b *testing.B) {
	const n = 100
	benchBackend.once.Do(func() {
		sizes := make([]string, n)
		for i := range sizes {
			sizes[i] = "bench-size"
		}
		if _, err := startHardware(b, "bench", sizes); err != nil {
			b.Fatal(err)
		}
		benchBackend.b, _, _ = setup(b, "bench", false)
	})
	be := benchBackend.b
	if be == nil {
		b.Fatal("setup failed")
	}
	for _, workers := range []int{1, 20} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			var lat []time.Duration
			var total time.Duration
			for i := range b.N {
				start := time.Now()
				lat = append(lat, allocateAll(b, be, fmt.Sprintf("w%d-r%d", workers, i), n, workers)...)
				total += time.Since(start)
				b.StopTimer()
				freeAll(b, be, fmt.Sprintf("w%d-r%d", workers, i))
				b.StartTimer()
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms/machine")
			b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms/machine")
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "machines/s")
		})
	}
}

// allocateAll allocates n machines with the given concurrency and returns the
// time each took from request to Running.
func allocateAll(b *testing.B, be *ironcore.Backend, cluster string, n, workers int) []time.Duration {
	ctx := context.Background()
	lat := make([]time.Duration, n)
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			start := time.Now()
			m, err := be.AllocateMachine(ctx, metal.MachineSpec{Name: fmt.Sprintf("%s-%03d", cluster, i), Cluster: cluster, Image: "img", Size: "bench-size"})
			if err != nil {
				b.Error(err)
				return
			}
			for m.State != metal.MachineRunning {
				time.Sleep(20 * time.Millisecond)
				if m, err = be.GetMachine(ctx, m.ID); err != nil {
					b.Error(err)
					return
				}
			}
			lat[i] = time.Since(start)
		}()
	}
	wg.Wait()
	return lat
}

func freeAll(b *testing.B, be *ironcore.Backend, cluster string) {
	ctx := context.Background()
	ms, err := be.ListMachines(ctx, cluster)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range ms {
		if err := be.FreeMachine(ctx, m.ID, metal.OwnerOf(&m)); err != nil {
			b.Fatal(err)
		}
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if ms, err := be.ListMachines(ctx, cluster); err == nil && len(ms) == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatal("machines not freed within a minute")
		}
	}
}
