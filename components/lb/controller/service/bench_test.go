package service_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ipamv1 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/shared/metal"
)

// BenchmarkServices500 measures how long 500 Services of type LoadBalancer
// created at once take until every one has its IP in status, with the real
// in-cluster IPAM provider, and how long until every IP is back once they are
// deleted. Each iteration runs, in this order:
//   - the reference: the lookups as metalkube made them before IPs were
//     indexed by label (every IP of the cluster read and its tags matched
//     here, for each Service), on a backend whose AllocateIP polls its claim
//     (as it did then);
//   - the indexed lookups on the same polling backend (before waits shared a
//     watch);
//   - today's code: indexed lookups, and AllocateIP waiting on the backend's
//     shared claim watch (its client can watch, as in production);
//   - the same with --lb-service-workers=128 instead of the default 32.
//
// Every run but the last has the lb controller's default 32 workers.
//
// It reports each and the ratios to the reference. Nothing may leak: after
// each run no claim and no address is left. The provider alone (n
// IPAddressClaims created directly, no metalkube) is reported as the floor:
// it reconciles one claim at a time.
func BenchmarkServices500(b *testing.B) {
	const n = 500
	ctx := context.Background()
	// The test API server's service range has room for 254 ClusterIPs;
	// a second ServiceCIDR makes room for the benchmark's Services.
	cidr := &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "bench"}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.1.0.0/20"}}}
	if err := env.Client.Create(ctx, cidr); client.IgnoreAlreadyExists(err) != nil {
		b.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme}) // cannot watch
	if err != nil {
		b.Fatal(err)
	}
	polling, err := newBackend(c)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		ref := servicesUntilIPs(b, n, 0, func(metal.Client) metal.Client { return listAll{polling} })
		idxPolling := servicesUntilIPs(b, n, 0, func(metal.Client) metal.Client { return polling })
		idx := servicesUntilIPs(b, n, 0, nil)
		idx128 := servicesUntilIPs(b, n, 128, nil)
		floor := claimsUntilBound(b, n)
		b.ReportMetric(ref.Seconds(), "s-reference")
		b.ReportMetric(idxPolling.Seconds(), "s-indexed-polling")
		b.ReportMetric(idx.Seconds(), "s-indexed-watch")
		b.ReportMetric(idx128.Seconds(), "s-indexed-watch-128-workers")
		b.ReportMetric(floor.Seconds(), "s-provider-alone")
		b.ReportMetric(ref.Seconds()/idxPolling.Seconds(), "x-faster-polling")
		b.ReportMetric(ref.Seconds()/idx.Seconds(), "x-faster")
		b.ReportMetric(ref.Seconds()/idx128.Seconds(), "x-faster-128-workers")
	}
}

// servicesUntilIPs runs the controllers (their IP calls through ips; workers
// Services at once, 0: the default), creates
// n Services at once and returns the time until all have an IP; then it
// deletes them and waits until every claim and address is gone.
func servicesUntilIPs(b *testing.B, n, workers int, ips func(metal.Client) metal.Client) time.Duration {
	ctx := context.Background()
	// The 3s lease of the test options does not survive 500 creates on a
	// loaded 2-core machine; the benchmark measures allocation, not leader
	// election.
	stop := runWorkers(b, ips, workers, func(o *manager.Options) { o.LeaderElection = false })
	defer stop()
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
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
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
	for _, s := range svcs {
		if err := env.Client.Delete(ctx, s); client.IgnoreNotFound(err) != nil {
			b.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		claims, addrs := &ipamv1.IPAddressClaimList{}, &ipamv1.IPAddressList{}
		if err := env.Client.List(ctx, claims, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		if err := env.Client.List(ctx, addrs, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		if len(claims.Items) == 0 && len(addrs.Items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("leaked after deleting every Service: %d claims, %d addresses", len(claims.Items), len(addrs.Items))
		}
	}
	return took
}

// listAll is the reference lookup: FindIPs as metalkube answered it before
// tags were indexed by label, reading every IP of the cluster and matching
// network, address and tags here.
type listAll struct{ metal.Client }

func (l listAll) FindIPs(ctx context.Context, q metal.IPQuery) ([]metal.IP, error) {
	all, err := l.Client.FindIPs(ctx, metal.IPQuery{Cluster: q.Cluster})
	if err != nil {
		return nil, err
	}
	var out []metal.IP
	for _, ip := range all {
		if (q.Network == "" || ip.Network == q.Network) && (!q.Address.IsValid() || ip.Address == q.Address) && metal.MatchTags(ip.Tags, q.Tags) {
			out = append(out, ip)
		}
	}
	return out, nil
}

// claimsUntilBound creates n IPAddressClaims on the LoadBalancer pool
// directly, 20 at a time, and returns the time until the IPAM provider has
// bound them all; then it deletes them and waits until they are gone.
func claimsUntilBound(b *testing.B, n int) time.Duration {
	ctx := context.Background()
	ref := ipamv1.IPPoolReference{APIGroup: pool4.Ref().APIGroup, Kind: pool4.Ref().Kind, Name: pool4.Ref().Name}
	t0 := time.Now()
	sem := make(chan struct{}, 20)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c := &ipamv1.IPAddressClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("floor-%03d", i)}, Spec: ipamv1.IPAddressClaimSpec{PoolRef: ref}}
			if err := env.Client.Create(ctx, c); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		claims := &ipamv1.IPAddressClaimList{}
		if err := env.Client.List(ctx, claims, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		bound := 0
		for _, c := range claims.Items {
			if c.Status.AddressRef.Name != "" {
				bound++
			}
		}
		if bound >= n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d claims bound", bound, n)
		}
	}
	took := time.Since(t0)
	if err := env.Client.DeleteAllOf(ctx, &ipamv1.IPAddressClaim{}, client.InNamespace(ns)); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		claims := &ipamv1.IPAddressClaimList{}
		if err := env.Client.List(ctx, claims, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		if len(claims.Items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d claims left", len(claims.Items))
		}
	}
	return took
}
