package ironcore_test

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/ironcore"
	"github.com/metalkube/metalkube/shared/testenv"
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

// BenchmarkFindIPByTag500 looks up one Service's IP by its tag among 500
// tagged IPs of one cluster, allocated once from the real in-cluster IPAM
// provider. Each iteration times the reference, the lookup as the backend made
// it before tags were indexed by label (every IP of the cluster read, tags
// matched in Go), and today's label-selected lookup, and reports both and
// their ratio.
func BenchmarkFindIPByTag500(b *testing.B) {
	const n = 500
	ctx := context.Background()
	ns := "ic-findbench"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
		b.Fatal(err)
	}
	pool := testenv.IPPool{Namespace: ns, Name: "lb", Prefix: netip.MustParsePrefix("10.96.0.0/22")}
	if err := env.CreateIPPools(ctx, pool); err != nil {
		b.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	be, err := ironcore.New(ironcore.Config{Client: c, Namespace: ns, IPTimeout: time.Minute, Pools: map[string][]ironcore.PoolRef{"lb": {pool.Ref()}}})
	if err != nil {
		b.Fatal(err)
	}
	tag := func(i int) map[string]string {
		return map[string]string{"service/default/svc-" + fmt.Sprint(i): "bench"}
	}
	sem := make(chan struct{}, 20)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := be.AllocateIP(ctx, metal.IPSpec{Name: fmt.Sprintf("svc-%03d", i), Cluster: "bench", Network: "lb", Tags: tag(i)}); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	find := func(q metal.IPQuery, reference bool) time.Duration {
		start := time.Now()
		var got []metal.IP
		if reference { // every IP of the cluster, matched here
			all, err := be.FindIPs(ctx, metal.IPQuery{Cluster: q.Cluster})
			if err != nil {
				b.Fatal(err)
			}
			for _, ip := range all {
				if metal.MatchTags(ip.Tags, q.Tags) {
					got = append(got, ip)
				}
			}
		} else if got, err = be.FindIPs(ctx, q); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		if len(got) != 1 {
			b.Fatalf("find %v (reference %v): %d IPs, want 1", q.Tags, reference, len(got))
		}
		return took
	}
	var ref, idx time.Duration
	b.ResetTimer()
	for i := range b.N {
		q := metal.IPQuery{Cluster: "bench", Tags: tag(i % n)}
		ref += find(q, true)
		idx += find(q, false)
	}
	b.ReportMetric(float64(ref.Microseconds())/float64(b.N), "µs/reference-lookup")
	b.ReportMetric(float64(idx.Microseconds())/float64(b.N), "µs/indexed-lookup")
	b.ReportMetric(ref.Seconds()/idx.Seconds(), "x-faster")
}
