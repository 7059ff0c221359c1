package controller_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// BenchmarkServices500 measures how long 500 Services of type LoadBalancer
// created at once take until every one has its IP in status.
func BenchmarkServices500(b *testing.B) {
	const n = 500
	for range b.N {
		// The 3s lease of the test options does not survive 500 creates on
		// a loaded 2-core machine; the benchmark measures allocation, not
		// leader election.
		start(b, func(o *manager.Options) { o.LeaderElection = false })
		ctx := context.Background()
		// The test API server's service range has room for 254 ClusterIPs;
		// a second ServiceCIDR makes room for the benchmark's Services.
		cidr := &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.1.0.0/20"}}}
		if err := env.Client.Create(ctx, cidr); client.IgnoreAlreadyExists(err) != nil {
			b.Fatal(err)
		}
		svcs := make([]*corev1.Service, n)
		t0 := time.Now()
		var wg sync.WaitGroup
		for i := range n {
			svcs[i] = service(fmt.Sprintf("bench-%03d", i), "")
			wg.Go(func() {
				if err := env.Client.Create(ctx, svcs[i]); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
			l := &corev1.ServiceList{}
			if err := env.Client.List(ctx, l, client.InNamespace("default")); err != nil {
				b.Fatal(err)
			}
			done := 0
			for _, s := range l.Items {
				if len(s.Status.LoadBalancer.Ingress) > 0 {
					done++
				}
			}
			if done >= n {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d services have an IP", done, n)
			}
		}
		took := time.Since(t0)
		b.ReportMetric(took.Seconds(), "s-until-all-have-IPs")
		b.ReportMetric(float64(n)/took.Seconds(), "services/s")
		for _, s := range svcs {
			_ = env.Client.Delete(ctx, s)
		}
	}
}
