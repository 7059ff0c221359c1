package service_test

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	ipamv1 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/yaml"

	"github.com/metalkube/metalkube/components/lb/announce"
	lbapp "github.com/metalkube/metalkube/components/lb/app"
	"github.com/metalkube/metalkube/components/lb/balancer"
	announcer "github.com/metalkube/metalkube/components/lb/controller/announce"
	lboptions "github.com/metalkube/metalkube/components/lb/options"
	"github.com/metalkube/metalkube/shared/fleet"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/ironcore"
	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit"
)

const (
	cluster = "shoot"
	ns      = "metal"
)

var (
	env     *testenv.Env
	outage  fleet.Outage // between the backend and the API server
	backend metal.Client

	// The pools of the real in-cluster IPAM provider, one per network.
	pool4 = testenv.IPPool{Namespace: ns, Name: "lb-public", Prefix: netip.MustParsePrefix("203.0.112.0/22")}
	pool6 = testenv.IPPool{Namespace: ns, Name: "lb-public-v6", Prefix: netip.MustParsePrefix("2001:db8:1::/120")}
)

func TestMain(m *testing.M) {
	flag.Parse()
	ctrl.SetLogger(logr.Discard()) // the controllers' logs; tests assert on Events and status
	metallb, err := testenv.ModuleDir("go.universe.tf/metallb", "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(testenv.Main(m, testenv.Options{
		CRDs:     []testenv.CRDSet{testenv.MetalOperator},
		IPAM:     true,
		CRDPaths: []string{filepath.Join(metallb, "config/crd/bases"), "../../testdata/crds/cilium"},
	}, &env))
}

// start runs `metalkube lb`'s controllers on a manager with the production
// options, announcing through both MetalLB and Cilium, with IPs from the
// real in-cluster IPAM provider.
func start(t testing.TB, mutate ...func(*manager.Options)) {
	t.Helper()
	t.Cleanup(run(t, nil, mutate...))
}

// run is start with the backend's IP calls going through ips (nil: the
// backend itself); it returns the function that stops the controllers.
func run(t testing.TB, ips func(metal.Client) metal.Client, mutate ...func(*manager.Options)) (stop func()) {
	t.Helper()
	return runWorkers(t, ips, 0, mutate...)
}

// runWorkers is run with the lb controller's --lb-service-workers (0: its
// default).
func runWorkers(t testing.TB, ips func(metal.Client) metal.Client, workers int, mutate ...func(*manager.Options)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		if stop == nil {
			cancel()
		}
	}()
	for _, n := range []string{ns, "metallb-system", "default"} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	if backend == nil {
		if err := env.CreateIPPools(ctx, pool4, pool6); err != nil {
			t.Fatal(err)
		}
		// A client that can watch, as in production (shared/options).
		c, err := client.NewWithWatch(outage.Wrap(env.Config), client.Options{Scheme: env.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		if backend, err = newBackend(c); err != nil {
			t.Fatal(err)
		}
		for i, asn := range []string{"4200000001", "4200000002"} {
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("worker-%d", i), Labels: map[string]string{announce.DefaultASNLabel: asn}}}
			if err := env.Client.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
	}
	mgr, err := env.NewManager(append([]func(*manager.Options){func(o *manager.Options) {
		o.LeaderElectionID = fmt.Sprintf("lb-%d", time.Now().UnixNano())
		// Every test starts the controllers anew in this one process.
		o.Controller.SkipNameValidation = ptr.To(true)
	}}, mutate...)...)
	if err != nil {
		t.Fatal(err)
	}
	be := backend
	if ips != nil {
		be = ips(backend)
	}
	o := &lbapp.Config{Metal: be, Cluster: cluster, LB: lboptions.Options{Network: "internet", Network6: "internet-v6", AnnounceResync: 2 * time.Second, ServiceWorkers: workers,
		Announce: announce.Config{Mode: announce.ModeMetalLB, Namespace: "metallb-system", ASNLabel: announce.DefaultASNLabel,
			PeerAddressLabel: announce.DefaultPeerAddressLabel, PeerAddress: announce.DefaultPeerAddress}}}
	if err := lbapp.AddToManager(ctx, mgr, o); err != nil {
		t.Fatal(err)
	}
	cilium := &announcer.Reconciler{Client: mgr.GetClient(), IPs: be, Cluster: cluster, ServiceTagPrefix: balancer.TagServicePrefix, Resync: 2 * time.Second,
		Config: announce.Config{Mode: announce.ModeCilium, ASNLabel: announce.DefaultASNLabel, PeerAddress: announce.DefaultPeerAddress}}
	if err := cilium.AddToManager(mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("manager stopped: %v", err)
		}
	}()
	return func() { cancel(); <-done }
}

// newBackend returns the tests' ironcore backend on c.
func newBackend(c client.Client) (*ironcore.Backend, error) {
	return ironcore.New(ironcore.Config{Client: c, Namespace: ns, IPTimeout: 5 * time.Second,
		Pools: map[string][]ironcore.PoolRef{"internet": {pool4.Ref()}, "internet-v6": {pool6.Ref()}}})
}

func service(name, ip string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerIP: ip, Ports: []corev1.ServicePort{{Port: 443}}},
	}
}

func create(t testing.TB, svc *corev1.Service) {
	t.Helper()
	if err := env.Client.Create(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), svc) })
}

func waitIP(t testing.TB, svc *corev1.Service) string {
	t.Helper()
	var ip string
	testkit.Eventually(t, "service "+svc.Name+" has an IP", func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(svc), svc); err != nil {
			return err
		}
		if in := svc.Status.LoadBalancer.Ingress; len(in) > 0 {
			ip = in[0].IP
			return nil
		}
		return fmt.Errorf("status %+v", svc.Status.LoadBalancer)
	})
	return ip
}

func claims(t testing.TB) []ipamv1.IPAddressClaim {
	t.Helper()
	l := &ipamv1.IPAddressClaimList{}
	if err := env.Client.List(context.Background(), l, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func deleteAndWaitGone(t testing.TB, svc *corev1.Service) {
	t.Helper()
	if err := env.Client.Delete(context.Background(), svc); client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "service "+svc.Name+" gone", func() bool {
		return apierrors.IsNotFound(env.Client.Get(context.Background(), client.ObjectKeyFromObject(svc), &corev1.Service{}))
	})
}

func TestEphemeralIPAndAnnouncement(t *testing.T) {
	start(t)
	svc := service("web", "")
	create(t, svc)
	ip := waitIP(t, svc)
	if !pool4.Prefix.Contains(netip.MustParseAddr(ip)) {
		t.Fatalf("IP %s not from pool %v", ip, pool4.Prefix)
	}
	testkit.Eventually(t, "MetalLB annotation", func() bool {
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(svc), svc)
		return svc.Annotations["metallb.io/loadBalancerIPs"] == ip
	})
	golden := func(name string, mode announce.Config) {
		t.Helper()
		var out []byte
		testkit.Eventually(t, name+" rendered", func() bool {
			out = live(t, mode)
			return strings.Contains(string(out), ip)
		})
		path := filepath.Join("testdata", name)
		testkit.Golden(t, path, out)
	}
	golden("metallb.yaml", announce.Config{Mode: announce.ModeMetalLB, Namespace: "metallb-system"})
	golden("cilium.yaml", announce.Config{Mode: announce.ModeCilium})

	deleteAndWaitGone(t, svc)
	testkit.Eventually(t, "IP freed", func() bool { return len(claims(t)) == 0 })
	testkit.Eventually(t, "stale pool removed", func() bool {
		return !strings.Contains(string(live(t, announce.Config{Mode: announce.ModeMetalLB, Namespace: "metallb-system"})), ip)
	})
}

// live returns the managed objects of a mode as they are in the API server
// (name, namespace, labels, spec), in render order.
func live(t testing.TB, cfg announce.Config) []byte {
	t.Helper()
	var out []byte
	for _, gvk := range cfg.Kinds() {
		l := &unstructured.UnstructuredList{}
		l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := env.Client.List(context.Background(), l, client.MatchingLabels{announce.LabelManagedBy: announce.ManagedBy}); err != nil {
			t.Fatal(err)
		}
		for _, o := range l.Items {
			md := map[string]any{"name": o.GetName(), "labels": o.GetLabels()}
			if o.GetNamespace() != "" {
				md["namespace"] = o.GetNamespace()
			}
			b, _ := yaml.Marshal(map[string]any{"apiVersion": o.GetAPIVersion(), "kind": o.GetKind(), "metadata": md, "spec": o.Object["spec"]})
			out = append(append(out, "---\n"...), b...)
		}
	}
	return out
}

func TestSharedStaticIP(t *testing.T) {
	start(t)
	a, b := service("shared-a", "203.0.113.100"), service("shared-b", "203.0.113.100")
	for _, s := range []*corev1.Service{a, b} {
		s.Annotations = map[string]string{balancer.AnnotationAllowSharedIP: "web"}
	}
	create(t, a)
	create(t, b)
	if ipA, ipB := waitIP(t, a), waitIP(t, b); ipA != "203.0.113.100" || ipB != ipA {
		t.Fatalf("IPs %s and %s, want both 203.0.113.100", ipA, ipB)
	}
	if n := len(claims(t)); n != 1 {
		t.Fatalf("%d IP claims for one shared address, want 1", n)
	}
	deleteAndWaitGone(t, a)
	time.Sleep(time.Second)
	if n := len(claims(t)); n != 1 {
		t.Fatalf("shared IP freed while service shared-b still uses it (%d claims)", n)
	}
	deleteAndWaitGone(t, b)
	keptStatic(t, "203.0.113.100")
}

// keptStatic checks that the static IP holding addr outlived its last
// Service, untagged (static IPs are never freed by metalkube, as by
// metal-ccm), then frees it as its owner would.
func keptStatic(t *testing.T, addr string) {
	t.Helper()
	ctx := context.Background()
	ips, err := backend.FindIPs(ctx, metal.IPQuery{Address: netip.MustParseAddr(addr)})
	if err != nil || len(ips) != 1 || ips[0].Type != metal.IPStatic {
		t.Fatalf("IPs holding %s after the last service = %+v, %v; want the static IP kept", addr, ips, err)
	}
	testkit.Eventually(t, "static IP untagged", func() bool {
		ip, err := backend.GetIP(ctx, ips[0].ID)
		return err == nil && len(balancer.Services(ip)) == 0
	})
	if err := backend.FreeIP(ctx, ips[0].ID); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "static IP freed by its owner", func() bool { return len(claims(t)) == 0 })
}

func TestStaticIPv6(t *testing.T) {
	start(t)
	svc := service("v6", "")
	svc.Annotations = map[string]string{balancer.AnnotationIPs: "2001:db8:1::42"}
	create(t, svc)
	if ip := waitIP(t, svc); ip != "2001:db8:1::42" {
		t.Fatalf("IP %s, want 2001:db8:1::42", ip)
	}
	deleteAndWaitGone(t, svc)
	keptStatic(t, "2001:db8:1::42")
}

func TestBadInput(t *testing.T) {
	start(t)
	// An address another cluster holds.
	other, err := backend.AllocateIP(context.Background(), metal.IPSpec{Name: "taken", Cluster: "other", Network: "internet", Type: metal.IPStatic, Address: netip.MustParseAddr("203.0.113.200")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.FreeIP(context.Background(), other.ID) })
	for _, tc := range []struct{ name, ip, want string }{
		{"outside", "198.51.100.7", "not in the network's IP pools"},
		{"used", "203.0.113.200", "already used"},
		{"garbage", "not-an-ip", "is not an IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := service("bad-"+tc.name, "")
			svc.Annotations = map[string]string{balancer.AnnotationIPs: tc.ip}
			create(t, svc)
			var msg string
			testkit.Eventually(t, "warning event", func() bool {
				evs := &corev1.EventList{}
				_ = env.Client.List(context.Background(), evs, client.InNamespace("default"))
				for _, e := range evs.Items {
					// The API server's own warnings (a cluster IP repaired
					// under load) are not the balancer's.
					if e.InvolvedObject.Name == svc.Name && e.Type == corev1.EventTypeWarning && e.Source.Component != "ipallocator-repair-controller" && !strings.Contains(e.Message, "Cluster IP") {
						msg = e.Message
						return true
					}
				}
				return false
			})
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, tc.ip) {
				t.Errorf("event %q does not say %q about %s", msg, tc.want, tc.ip)
			}
			// Only the other cluster's claim stays. A refused claim is
			// deleted by the backend, but a reconcile still in flight (the
			// Service's own update triggers one) may hold one for a moment:
			// wait for nothing to be left behind.
			testkit.Eventually(t, "only the other cluster's IP claim", func() bool { return len(claims(t)) == 1 })
			_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(svc), svc)
			if len(svc.Status.LoadBalancer.Ingress) != 0 {
				t.Errorf("refused service has status %v", svc.Status.LoadBalancer.Ingress)
			}
			deleteAndWaitGone(t, svc)
		})
	}
}

func TestOutageFreesNothing(t *testing.T) {
	start(t)
	svc := service("outage", "")
	create(t, svc)
	ip := waitIP(t, svc)
	testkit.Eventually(t, "announced", func() bool {
		return strings.Contains(string(live(t, announce.Config{Mode: announce.ModeMetalLB, Namespace: "metallb-system"})), ip)
	})
	outage.Set(true)
	if err := env.Client.Delete(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // announce resyncs and release retries see the outage
	pools := string(live(t, announce.Config{Mode: announce.ModeMetalLB, Namespace: "metallb-system"}))
	n := len(claims(t))
	outage.Set(false)
	if n != 1 {
		t.Errorf("IP freed during the outage (%d claims)", n)
	}
	if !strings.Contains(pools, ip) {
		t.Errorf("announcement of %s withdrawn during the outage", ip)
	}
	testkit.Eventually(t, "service released after recovery", func() bool {
		return apierrors.IsNotFound(env.Client.Get(context.Background(), client.ObjectKeyFromObject(svc), &corev1.Service{}))
	})
	testkit.Eventually(t, "IP freed after recovery", func() bool { return len(claims(t)) == 0 })
}
