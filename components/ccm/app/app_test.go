package app_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metalkube/metalkube/shared/testkit/ports"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cloudapi "k8s.io/cloud-provider/api"
	cloudapp "k8s.io/cloud-provider/app"
	"k8s.io/component-base/configz"
	logsapi "k8s.io/component-base/logs/api/v1"
	ipamv1 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/ccm/app"
	"github.com/metalkube/metalkube/shared/fleet"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/ironcore"
	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit"
	"github.com/metalkube/metalkube/shared/testkit/netns"
)

const (
	cluster = "shoot"
	ns      = "metal"
	size    = "c1-large"
)

var (
	env     *testenv.Env
	hw      *fleet.Hardware
	backend *counting
	httpReq atomic.Int64

	// The real in-cluster IPAM provider's pool.
	pool4 = testenv.IPPool{Namespace: ns, Name: "ccm-public", Prefix: netip.MustParsePrefix("203.0.113.0/26")}
)

func TestMain(m *testing.M) {
	// The upstream command applies its logging configuration on each run;
	// tests run it more than once.
	logsapi.ReapplyHandling = logsapi.ReapplyHandlingIgnoreUnchanged
	os.Exit(testenv.Main(m, testenv.Options{CRDs: []testenv.CRDSet{testenv.MetalOperator}, IPAM: true}, &env))
}

// peersCtx bounds metal-operator and the fleet's hardware, which live until
// TestMain stops them.
var peersCtx, stopPeers = context.WithCancel(context.Background())

// nodeNetwork and nodeNetwork6 are where the servers' addresses come from
// (each server's probe reports its own; see fleet.Hardware).
var (
	nodeNetwork  = netip.MustParsePrefix("10.0.0.0/16")
	nodeNetwork6 = netip.MustParsePrefix("fd00:10::/64")
)

// setup starts the real metal-operator with the fleet's hardware (once per
// binary: it serves every claim on the API server) and the backend the ccm
// uses, seen through the hardware's outage switch and counted.
func setup(t testing.TB) {
	t.Helper()
	if hw != nil {
		return
	}
	ctx := context.Background()
	for _, name := range []string{ns, "metal-operator-system"} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	if err := env.CreateIPPools(ctx, pool4); err != nil {
		t.Fatal(err)
	}
	env.BeforeStop(stopPeers)
	mo, err := env.StartMetalOperator(peersCtx, "metal-operator-system")
	if err != nil {
		t.Fatal(err)
	}
	probe, err := testenv.PeerBinary(testenv.PeerMetalProbe)
	if err != nil {
		t.Fatal(err)
	}
	h, err := fleet.NewHardware(env.Config, env.Config, fleet.HardwareConfig{RegistryURL: mo.RegistryURL, Probe: probe, Config: fleet.Config{
		Servers: 8, Sizes: []string{size}, RegisterNodes: true, ExternalCloudProvider: true, Heartbeat: time.Second,
		NodeNetwork: nodeNetwork, NodeNetwork6: nodeNetwork6, ExtraLabels: map[string]string{"metal.metalkube.io/rack": "rack-1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(peersCtx, 5*time.Minute); err != nil {
		t.Fatalf("%v (metal-operator's output: %s)", err, mo.Log)
	}
	hw = h
	cfg := hw.WrapConfig(env.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countTripper{rt} })
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ironcore.New(ironcore.Config{Client: c, Namespace: ns, Pools: map[string][]ironcore.PoolRef{"internet": {pool4.Ref()}}, IPTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	backend = &counting{Client: b}
}

type countTripper struct{ rt http.RoundTripper }

func (c countTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	httpReq.Add(1)
	return c.rt.RoundTrip(r)
}

// counting counts the backend calls of the machine API.
type counting struct {
	metal.Client
	list, get atomic.Int64
}

func (c *counting) ListMachines(ctx context.Context, cl string) ([]metal.Machine, error) {
	c.list.Add(1)
	return c.Client.ListMachines(ctx, cl)
}

func (c *counting) GetMachine(ctx context.Context, id string) (*metal.Machine, error) {
	c.get.Add(1)
	return c.Client.GetMachine(ctx, id)
}

// startCCM runs `metalkube ccm` (the production command, upstream
// controllers included) with short periods until the test ends.
func startCCM(t testing.TB, extra ...string) {
	t.Helper()
	setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := app.NewCommandWithBackend(ctx, backend)
	args := []string{
		"--kubeconfig=" + env.Kubeconfig, "--metal-cluster=" + cluster, "--leader-elect=false", "--secure-port=0",
		"--node-monitor-period=1s", "--node-status-update-frequency=1s", "--concurrent-node-syncs=10",
		"--controller-start-interval=0", "--announce=none", "--node-label-resync=1s", "--backend-health-interval=500ms",
		"--pod-cidr-node-network=10.0.0.0/16", "--pod-cidr-cluster-cidr=10.244.0.0/16",
		"--authentication-skip-lookup", "-v=0",
	}
	cmd.SetArgs(append(args, extra...))
	done := make(chan error, 1)
	go func() { done <- cmd.Execute() }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ccm: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("ccm did not stop")
		}
		time.Sleep(time.Second) // let the controllers see the stop
		configz.Delete(cloudapp.ConfigzName)
	})
}

func allocate(t testing.TB, name string, powerOff bool) *metal.Machine {
	t.Helper()
	m, err := backend.AllocateMachine(context.Background(), metal.MachineSpec{Name: name, Cluster: cluster, Image: "flatcar", Size: size, PowerOff: powerOff})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = backend.FreeMachine(context.Background(), m.ID, metal.OwnerOf(m))
		_ = client.IgnoreNotFound(env.Client.Delete(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	})
	return m
}

func waitNode(t testing.TB, name string, what string, ok func(*corev1.Node) bool) *corev1.Node {
	t.Helper()
	node := &corev1.Node{}
	testkit.Eventually(t, "node "+name+": "+what, func() (bool, string) {
		err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, node)
		return err == nil && ok(node), fmt.Sprintf("err %v: labels %v taints %v providerID %q", err, node.Labels, node.Spec.Taints, node.Spec.ProviderID)
	})
	return node
}

func hasTaint(n *corev1.Node, key string) bool {
	return slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == key })
}

// notReady plays kube-controller-manager's node-lifecycle controller, which
// marks a Node whose kubelet stopped posting as Unknown.
func notReady(t testing.TB, name string) {
	t.Helper()
	node := &corev1.Node{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, node); err != nil {
		t.Fatal(err)
	}
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == corev1.NodeReady {
			node.Status.Conditions[i].Status = corev1.ConditionUnknown
			node.Status.Conditions[i].Reason = "NodeStatusUnknown"
		}
	}
	if err := env.Client.Status().Update(context.Background(), node); err != nil {
		t.Fatal(err)
	}
}

func TestNodeLifecycle(t *testing.T) {
	startCCM(t)
	m := allocate(t, "node-a", false)
	node := waitNode(t, "node-a", "initialized", func(n *corev1.Node) bool {
		return !hasTaint(n, fleet.TaintUninitialized) && n.Spec.PodCIDR != "" && n.Labels["metal.metalkube.io/rack"] != ""
	})
	m, err := backend.GetMachine(context.Background(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("metadata", func(t *testing.T) {
		if want := "metal://" + ns + "/node-a"; node.Spec.ProviderID != want {
			t.Errorf("provider ID %q, want %q", node.Spec.ProviderID, want)
		}
		for k, v := range map[string]string{
			corev1.LabelTopologyZone: m.Partition, corev1.LabelTopologyRegion: "region-1", corev1.LabelInstanceTypeStable: size,
			"metal.metalkube.io/rack": "rack-1",
		} {
			if node.Labels[k] != v || v == "" {
				t.Errorf("label %s = %q, want %q", k, node.Labels[k], v)
			}
		}
		var v4, v6 bool
		for _, a := range node.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				ip := netip.MustParseAddr(a.Address)
				v4, v6 = v4 || ip.Is4(), v6 || ip.Is6()
			}
		}
		if !v4 || !v6 {
			t.Errorf("addresses %v: want IPv4 and IPv6 InternalIPs", node.Status.Addresses)
		}
		// The server's own addresses, as its probe reported them (one
		// network namespace per server).
		if ok, _ := netns.Available(); ok {
			i := hw.Index(m.Server)
			want := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fleet.NthAddr(nodeNetwork, i).String()},
				{Type: corev1.NodeInternalIP, Address: fleet.NthAddr(nodeNetwork6, i).String()}}
			for _, w := range want {
				if !slices.Contains(node.Status.Addresses, w) {
					t.Errorf("addresses %v: want %s, the address of server %s (index %d)", node.Status.Addresses, w.Address, m.Server, i)
				}
			}
		}
	})
	t.Run("pod CIDR from node IP", func(t *testing.T) {
		var ip netip.Addr
		for _, a := range node.Status.Addresses {
			if a.Type == corev1.NodeInternalIP && netip.MustParseAddr(a.Address).Is4() {
				ip = netip.MustParseAddr(a.Address)
			}
		}
		b := ip.As4()
		if want := fmt.Sprintf("10.244.%d.0/24", b[3]); node.Spec.PodCIDR != want && b[2] == 0 {
			t.Errorf("pod CIDR %s for node IP %s, want %s", node.Spec.PodCIDR, ip, want)
		}
	})
	t.Run("powered off -> shutdown taint", func(t *testing.T) {
		if err := backend.SetMachinePower(context.Background(), m.ID, false); err != nil {
			t.Fatal(err)
		}
		// metal-operator powers the server off through its BMC a little
		// later; until then the node's kubelet heart-beats and would mark
		// it Ready again.
		testkit.EventuallyWithin(t, 2*time.Minute, "machine powered off", func() (bool, string) {
			got, err := backend.GetMachine(context.Background(), m.ID)
			return err == nil && !got.PoweredOn, fmt.Sprintf("err %v, machine %+v", err, got)
		})
		notReady(t, "node-a")
		waitNode(t, "node-a", "shutdown taint", func(n *corev1.Node) bool { return hasTaint(n, cloudapi.TaintNodeShutdown) })
	})
	t.Run("outage keeps the node", func(t *testing.T) {
		if err := hw.LoseServer(context.Background(), hw.Index(m.Server)); err != nil {
			t.Fatal(err)
		}
		hw.SetOutage(true)
		time.Sleep(4 * time.Second) // several node-monitor periods
		hw.SetOutage(false)
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "node-a"}, &corev1.Node{}); err != nil {
			t.Fatalf("node deleted during a backend outage: %v", err)
		}
	})
	t.Run("lost server -> node deleted after recovery", func(t *testing.T) {
		testkit.Eventually(t, "node of a lost server deleted", func() (bool, string) {
			err := env.Client.Get(context.Background(), client.ObjectKey{Name: "node-a"}, &corev1.Node{})
			return apierrors.IsNotFound(err), fmt.Sprintf("get: %v", err)
		})
	})
}

func TestLoadBalancerThroughCCM(t *testing.T) {
	startCCM(t)
	ctx := context.Background()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}},
	}
	if err := env.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	var ip string
	testkit.Eventually(t, "service has an IP", func() error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
			return err
		}
		if in := svc.Status.LoadBalancer.Ingress; len(in) > 0 {
			ip = in[0].IP
			return nil
		}
		return fmt.Errorf("status %+v", svc.Status.LoadBalancer)
	})
	if !pool4.Prefix.Contains(netip.MustParseAddr(ip)) {
		t.Errorf("IP %s not from the pool %v", ip, pool4.Prefix)
	}
	t.Run("bad input -> event, nothing allocated", func(t *testing.T) {
		bad := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "bad"},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerIP: "198.51.100.7", Ports: []corev1.ServicePort{{Port: 80}}},
		}
		if err := env.Client.Create(ctx, bad); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = env.Client.Delete(ctx, bad) }()
		var msg string
		testkit.Eventually(t, "a warning event for a bad address", func() bool {
			evs := &corev1.EventList{}
			_ = env.Client.List(ctx, evs, client.InNamespace("default"))
			for _, e := range evs.Items {
				if e.InvolvedObject.Name == "bad" && e.Reason == "SyncLoadBalancerFailed" {
					msg = e.Message
				}
			}
			return msg != ""
		})
		if !strings.Contains(msg, "198.51.100.7") || !strings.Contains(msg, "not in the network's IP pools") {
			t.Errorf("event %q does not explain the bad address", msg)
		}
		claims := &ipamv1.IPAddressClaimList{}
		if err := env.Client.List(ctx, claims, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if len(claims.Items) != 1 { // web's only
			t.Errorf("%d IP claims, want only the good service's", len(claims.Items))
		}
	})
	if err := env.Client.Delete(ctx, svc); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "IP freed after the service was deleted", func() error {
		claims := &ipamv1.IPAddressClaimList{}
		if err := env.Client.List(ctx, claims, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(claims.Items) != 0 {
			return fmt.Errorf("%d claims", len(claims.Items))
		}
		return nil
	})
}

// TestLivenessLeavesBackendOut serves /healthz as the chart probes it: the
// liveness path excludes the backend's check, so a backend outage turns
// readiness red and leaves liveness green (no restart loop).
func TestLivenessLeavesBackendOut(t *testing.T) {
	port, err := ports.Free()
	if err != nil {
		t.Fatal(err)
	}
	startCCM(t, fmt.Sprintf("--secure-port=%d", port), "--bind-address=127.0.0.1", "--cert-dir="+t.TempDir())
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the ccm's self-signed serving certificate on loopback
	probe := func(path string) (int, string) {
		resp, err := hc.Get(fmt.Sprintf("https://127.0.0.1:%d%s", port, path))
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	// waitFor waits until GET path answers want with a body containing
	// wantBody; the checks register as the controllers start, so a first
	// 200 may not list them yet.
	waitFor := func(path string, want int, wantBody string) {
		t.Helper()
		testkit.EventuallyWithin(t, 60*time.Second, "GET "+path, func() (bool, string) {
			code, body := probe(path)
			return code == want && strings.Contains(body, wantBody), fmt.Sprintf("%d %s, want %d with %q", code, body, want, wantBody)
		})
	}
	waitFor("/healthz?verbose=1", http.StatusOK, "[+]"+app.ControllerBackendHealth)
	hw.SetOutage(true)
	defer hw.SetOutage(false)
	// Readiness turns red naming the backend check.
	waitFor("/healthz?verbose=1", http.StatusInternalServerError, "[-]"+app.ControllerBackendHealth)
	if code, body := probe(app.LivenessPath + "&verbose"); code != http.StatusOK {
		t.Errorf("liveness during a backend outage = %d:\n%s", code, body)
	}
	hw.SetOutage(false)
	waitFor("/healthz?verbose=1", http.StatusOK, "[+]"+app.ControllerBackendHealth)
}
