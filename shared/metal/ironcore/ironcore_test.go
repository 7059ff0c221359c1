package ironcore_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metalv1alpha1 "github.com/ironcore-dev/metal-operator/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ipamv1 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/shared/fleet"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/conformance"
	"github.com/metalkube/metalkube/shared/metal/ironcore"
	"github.com/metalkube/metalkube/shared/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard()) // the fleet's logs
	os.Exit(testenv.Main(m, testenv.Options{CRDs: []testenv.CRDSet{testenv.MetalOperator}, IPAM: true}, &env))
}

// The networks of every test: "internet", dual stack with a pool per family,
// and "small", a pool of two addresses (a /30 without network and broadcast).
var (
	internet4 = netip.MustParsePrefix("203.0.113.0/27")
	internet6 = netip.MustParsePrefix("2001:db8:1::/120")
	small4    = netip.MustParsePrefix("198.18.0.0/30")
)

const smallCapacity = 2

// The package's one fleet: the real metal-operator (started once, it acts on
// every claim of the API server) and its hardware, with servers of a size of
// each test's own. sizeSlots lists each server's size, in server order.
var sizeSlots = func() []string {
	s := make([]string, 0, 28)
	for range 20 {
		s = append(s, "conf-size")
	}
	return append(s, "free-size", "nocap-size", "outage-size", "outage-size", "lost-size", "power-size", "cut-size", "slow-size")
}()

var operator struct {
	once sync.Once
	mo   *testenv.MetalOperatorPeer
	ctx  context.Context
	err  error
}

var fleetOnce struct {
	once sync.Once
	hw   *fleet.Hardware
	err  error
}

// metalOperator starts metal-operator once; it lives until TestMain stops
// the environment.
func metalOperator(t testing.TB) (context.Context, *testenv.MetalOperatorPeer) {
	t.Helper()
	operator.once.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		env.BeforeStop(cancel)
		operator.ctx = ctx
		if operator.err = env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "metal-operator-system"}}); operator.err != nil {
			return
		}
		operator.mo, operator.err = env.StartMetalOperator(ctx, "metal-operator-system")
	})
	if operator.err != nil {
		t.Fatalf("metal-operator: %v", operator.err)
	}
	return operator.ctx, operator.mo
}

// startHardware starts hardware with a server of each size in sizes, named
// after prefix, and waits until every server is Available.
func startHardware(t testing.TB, prefix string, sizes []string) (*fleet.Hardware, error) {
	ctx, mo := metalOperator(t)
	probe, err := testenv.PeerBinary(testenv.PeerMetalProbe)
	if err != nil {
		return nil, err
	}
	hw, err := fleet.NewHardware(env.Config, env.Config, fleet.HardwareConfig{
		Config: fleet.Config{Servers: len(sizes), Prefix: prefix, Sizes: sizes}, RegistryURL: mo.RegistryURL, Probe: probe,
	})
	if err != nil {
		return nil, err
	}
	if err := hw.Start(ctx, 5*time.Minute); err != nil {
		return nil, fmt.Errorf("%w (metal-operator's output: %s)", err, mo.Log)
	}
	return hw, nil
}

// hardware starts the package's shared hardware once.
func hardware(t testing.TB) *fleet.Hardware {
	t.Helper()
	fleetOnce.once.Do(func() { fleetOnce.hw, fleetOnce.err = startHardware(t, "srv", sizeSlots) })
	if fleetOnce.err != nil {
		t.Fatalf("fleet: %v", fleetOnce.err)
	}
	return fleetOnce.hw
}

// setup returns a backend under a fresh namespace with its own IP pools,
// reaching the API server through the hardware's outage switch; with
// servers, it first waits for the fleet.
func setup(t testing.TB, name string, servers bool) (*ironcore.Backend, *fleet.Hardware, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var hw *fleet.Hardware
	if servers {
		hw = hardware(t)
		t.Cleanup(func() {
			if t.Failed() {
				_, mo := metalOperator(t)
				b, _ := os.ReadFile(mo.Log)
				lines := strings.Split(string(b), "\n")
				t.Logf("metal-operator's last lines:\n%s", strings.Join(lines[max(0, len(lines)-80):], "\n"))
			}
		})
	}
	ns := "ic-" + name
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	pools := []testenv.IPPool{{Namespace: ns, Name: "public-v4", Prefix: internet4}, {Namespace: ns, Name: "public-v6", Prefix: internet6}, {Namespace: ns, Name: "small", Prefix: small4}}
	if err := env.CreateIPPools(ctx, pools...); err != nil {
		t.Fatal(err)
	}
	cfg := env.Config
	if hw != nil {
		cfg = hw.WrapConfig(env.Config)
	}
	// A client that can watch, as in production (shared/options): AllocateIP
	// waits on the shared claim watch.
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	// A long IP timeout: exhaustion must be told apart from a slow provider
	// by the backend, not by the clock.
	b, err := ironcore.New(ironcore.Config{Client: c, Namespace: ns, IPTimeout: time.Minute,
		Pools: map[string][]ironcore.PoolRef{"internet": {pools[0].Ref(), pools[1].Ref()}, "small": {pools[2].Ref()}}})
	if err != nil {
		t.Fatal(err)
	}
	return b, hw, ns
}

func TestConformance(t *testing.T) {
	b, hw, ns := setup(t, "conf", true)
	conformance.Run(t, conformance.Backend{
		Client: b, Cluster: "shoot-conf", Size: "conf-size", Capacity: 20, Image: "ubuntu-24.04", Timeout: 2 * time.Minute,
		Network: "internet", InPool: netip.MustParseAddr("203.0.113.20"), Outside: netip.MustParseAddr("198.51.100.7"),
		Families: []int{4, 6}, Small: "small", SmallCapacity: smallCapacity,
		Leftovers:      func(ctx context.Context, _ string) ([]string, error) { return leftovers(ctx, ns) },
		SetUnavailable: hw.SetOutage,
	})
}

// leftovers lists the IP objects left in ns: claims, addresses, static IPs'
// one-address pools, provider finalizers, and addresses excluded from the
// network pools.
func leftovers(ctx context.Context, ns string) ([]string, error) {
	var out []string
	claims := &ipamv1.IPAddressClaimList{}
	addrs := &ipamv1.IPAddressList{}
	for _, l := range []client.ObjectList{claims, addrs} {
		if err := env.Client.List(ctx, l, client.InNamespace(ns)); err != nil {
			return nil, err
		}
	}
	for _, c := range claims.Items {
		out = append(out, fmt.Sprintf("IPAddressClaim %s (finalizers %v)", c.Name, c.Finalizers))
	}
	for _, a := range addrs.Items {
		out = append(out, fmt.Sprintf("IPAddress %s (%s)", a.Name, a.Spec.Address))
	}
	pools := &unstructured.UnstructuredList{}
	pools.SetGroupVersionKind(schema.GroupVersionKind{Group: testenv.IPPoolAPIGroup, Version: "v1alpha2", Kind: "InClusterIPPoolList"})
	if err := env.Client.List(ctx, pools, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	for _, p := range pools.Items {
		switch p.GetName() {
		case "public-v4", "public-v6", "small":
			if ex, _, _ := unstructured.NestedStringSlice(p.Object, "spec", "excludedAddresses"); len(ex) > 0 {
				out = append(out, fmt.Sprintf("pool %s excludes %v", p.GetName(), ex))
			}
		default:
			if p.GetDeletionTimestamp() == nil {
				out = append(out, "InClusterIPPool "+p.GetName())
			}
		}
	}
	return out, nil
}

func TestNoIPAMAnnotations(t *testing.T) {
	b, _, ns := setup(t, "annot", false)
	ctx := context.Background()
	for _, spec := range []metal.IPSpec{
		{Name: "eph", Cluster: "c", Network: "internet", Family: 6},
		{Name: "static", Cluster: "c", Network: "internet", Type: metal.IPStatic, Address: netip.MustParseAddr("203.0.113.9")},
	} {
		if _, err := b.AllocateIP(ctx, spec); err != nil {
			t.Fatalf("allocate %s: %v", spec.Name, err)
		}
	}
	claims := &ipamv1.IPAddressClaimList{}
	if err := env.Client.List(ctx, claims, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(claims.Items) != 2 {
		t.Fatalf("%d claims, want 2", len(claims.Items))
	}
	for _, c := range claims.Items {
		for k := range c.Annotations {
			if strings.HasPrefix(k, "ipam.metalkube.io/") {
				t.Errorf("claim %s has annotation %s", c.Name, k)
			}
		}
		if c.Spec.ClusterName != "" {
			t.Errorf("claim %s names Cluster API cluster %q", c.Name, c.Spec.ClusterName)
		}
	}
}

func TestStaticAddressIsTheRequestedOne(t *testing.T) {
	b, _, ns := setup(t, "static", false)
	ctx := context.Background()
	// Take the first addresses dynamically, then ask for one of them and for
	// one the provider would hand out next: the first is a conflict, the
	// second must come back exactly.
	first, err := b.AllocateIP(ctx, metal.IPSpec{Name: "dyn", Cluster: "c", Network: "internet"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AllocateIP(ctx, metal.IPSpec{Name: "taken", Cluster: "c", Network: "internet", Type: metal.IPStatic, Address: first.Address}); !metal.IsConflict(err) {
		t.Fatalf("static %s held by a dynamic IP: err = %v, want ErrConflict", first.Address, err)
	}
	next := first.Address.Next()
	ip, err := b.AllocateIP(ctx, metal.IPSpec{Name: "pinned", Cluster: "c", Network: "internet", Type: metal.IPStatic, Address: next})
	if err != nil || ip.Address != next {
		t.Fatalf("static %s = %+v, %v", next, ip, err)
	}
	// The provider must not hand the pinned address to anyone else.
	dyn2, err := b.AllocateIP(ctx, metal.IPSpec{Name: "dyn2", Cluster: "c", Network: "internet"})
	if err != nil || dyn2.Address == next {
		t.Fatalf("dynamic after static = %+v, %v; must not be %s", dyn2, err, next)
	}
	v6 := netip.MustParseAddr("2001:db8:1::42")
	if ip, err := b.AllocateIP(ctx, metal.IPSpec{Name: "v6", Cluster: "c", Network: "internet", Type: metal.IPStatic, Address: v6}); err != nil || ip.Address != v6 {
		t.Fatalf("static %s = %+v, %v", v6, ip, err)
	}
	for _, id := range []string{first.ID, ip.ID, dyn2.ID, "c-v6"} {
		if err := b.FreeIP(ctx, id); err != nil {
			t.Fatalf("free %s: %v", id, err)
		}
	}
	waitNoLeftovers(t, ns)
}

// waitNoLeftovers waits until the provider has released every address of ns.
func waitNoLeftovers(t *testing.T, ns string) {
	t.Helper()
	var left []string
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if left, err = leftovers(context.Background(), ns); err == nil && len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: %v (%v)", left, err)
		}
	}
}

func TestFreeReturnsServerToAvailable(t *testing.T) {
	b, _, ns := setup(t, "free", true)
	ctx := context.Background()
	m, err := b.AllocateMachine(ctx, metal.MachineSpec{Name: "m1", Cluster: "c", Image: "img", Size: "free-size"})
	if err != nil {
		t.Fatal(err)
	}
	m = waitMachine(t, b, m.ID, metal.MachineRunning)
	srv := waitServer(t, m.Server, func(s *metalv1alpha1.Server) bool {
		return s.Status.State == metalv1alpha1.ServerStateReserved && s.Status.PowerState == metalv1alpha1.ServerOnPowerState
	})
	if ref := srv.Spec.ServerClaimRef; ref == nil || ref.Name != "m1" {
		t.Fatalf("server claim ref = %+v, want m1", ref)
	}
	// The probe reported this host's interfaces, link-local ones among them.
	if len(m.Addresses) == 0 {
		t.Errorf("machine without addresses: %+v", m)
	}
	for _, a := range m.Addresses {
		if ip, err := netip.ParseAddr(a.Address); err == nil && (ip.IsLinkLocalUnicast() || ip.IsLoopback()) {
			t.Errorf("machine address %s is link-local or loopback", ip)
		}
	}
	if err := b.FreeMachine(ctx, m.ID, metal.OwnerOf(m)); err != nil {
		t.Fatal(err)
	}
	srv = waitServer(t, m.Server, func(s *metalv1alpha1.Server) bool {
		return s.Status.State == metalv1alpha1.ServerStateAvailable && s.Spec.ServerClaimRef == nil
	})
	if srv.Status.PowerState != metalv1alpha1.ServerOffPowerState {
		t.Errorf("released server power = %s, want Off", srv.Status.PowerState)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "m1"}, &corev1.Secret{}); err == nil {
		t.Errorf("user-data secret left after free")
	}
}

func TestNoCapacityNamesSelector(t *testing.T) {
	b, _, ns := setup(t, "nocap", true)
	_, err := b.AllocateMachine(context.Background(), metal.MachineSpec{Name: "m1", Cluster: "c", Image: "img", Size: "no-such-size"})
	if !metal.IsNoCapacity(err) {
		t.Fatalf("err = %v, want ErrNoCapacity", err)
	}
	if !strings.Contains(err.Error(), "metal.metalkube.io/size=no-such-size") {
		t.Errorf("error %q does not name the selector", err)
	}
	claims := &metalv1alpha1.ServerClaimList{}
	if err := env.Client.List(context.Background(), claims, client.InNamespace(ns)); err != nil || len(claims.Items) != 0 {
		t.Errorf("claims left after no-capacity: %d (%v)", len(claims.Items), err)
	}
}

func TestOutageCreatesNothing(t *testing.T) {
	b, hw, ns := setup(t, "outage", true)
	ctx := context.Background()
	hw.SetOutage(true)
	_, err := b.AllocateMachine(ctx, metal.MachineSpec{Name: "m1", Cluster: "c", Image: "img", Size: "outage-size", UserData: []byte("secret")})
	hw.SetOutage(false)
	if !metal.IsUnavailable(err) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks user data: %v", err)
	}
	for _, l := range []client.ObjectList{&metalv1alpha1.ServerClaimList{}, &corev1.SecretList{}, &ipamv1.IPAddressClaimList{}} {
		if err := env.Client.List(ctx, l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if n := meta.LenList(l); n != 0 {
			t.Errorf("%T has %d items after outage", l, n)
		}
	}
}

func TestLostServer(t *testing.T) {
	b, hw, _ := setup(t, "lost", true)
	ctx := context.Background()
	m, err := b.AllocateMachine(ctx, metal.MachineSpec{Name: "m1", Cluster: "c", Image: "img", Size: "lost-size"})
	if err != nil {
		t.Fatal(err)
	}
	waitMachine(t, b, m.ID, metal.MachineRunning)
	if err := hw.LoseServer(ctx, slices.Index(sizeSlots, "lost-size")); err != nil {
		t.Fatal(err)
	}
	waitMachine(t, b, m.ID, metal.MachineLost)
}

func TestPowerOff(t *testing.T) {
	b, _, _ := setup(t, "power", true)
	ctx := context.Background()
	m, err := b.AllocateMachine(ctx, metal.MachineSpec{Name: "m1", Cluster: "c", Image: "img", Size: "power-size"})
	if err != nil {
		t.Fatal(err)
	}
	waitMachine(t, b, m.ID, metal.MachineRunning)
	if err := b.SetMachinePower(ctx, m.ID, false); err != nil {
		t.Fatal(err)
	}
	got := waitMachine(t, b, m.ID, metal.MachineAllocated)
	if got.PoweredOn {
		t.Errorf("machine still powered on: %+v", got)
	}
}

// TestPowerCut cuts a running machine's power at its BMC: the real
// metal-operator notices and powers it on again (a power action at the BMC),
// and the machine is Running again.
func TestPowerCut(t *testing.T) {
	b, hw, _ := setup(t, "cut", true)
	ctx := context.Background()
	i := slices.Index(sizeSlots, "cut-size")
	m, err := b.AllocateMachine(ctx, metal.MachineSpec{Name: "m1", Cluster: "c", Image: "img", Size: "cut-size"})
	if err != nil {
		t.Fatal(err)
	}
	waitMachine(t, b, m.ID, metal.MachineRunning)
	before, _ := hw.PowerActions(i)
	if err := hw.CutPower(ctx, i); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if done, _ := hw.PowerActions(i); done > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("metal-operator sent no power action to the BMC after the power cut")
		}
	}
	if got := waitMachine(t, b, m.ID, metal.MachineRunning); !got.PoweredOn {
		t.Errorf("machine after the power cut: %+v, want powered on", got)
	}
}

// TestSlowPower holds the BMC's power actions back: while the power-on is
// held, the machine is not powered on; once carried out, it is Running.
func TestSlowPower(t *testing.T) {
	b, hw, _ := setup(t, "slow", true)
	ctx := context.Background()
	i := slices.Index(sizeSlots, "slow-size")
	hw.SetPowerDelay(i, 5*time.Second)
	defer hw.SetPowerDelay(i, 0)
	m, err := b.AllocateMachine(ctx, metal.MachineSpec{Name: "m1", Cluster: "c", Image: "img", Size: "slow-size"})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if _, held := hw.PowerActions(i); held > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no power action reached the BMC")
		}
	}
	if got, err := b.GetMachine(ctx, m.ID); err != nil || got.PoweredOn || got.State == metal.MachineRunning {
		t.Errorf("machine while its BMC holds the power-on: %+v, %v; want not powered on", got, err)
	}
	hw.SetPowerDelay(i, 0)
	if got := waitMachine(t, b, m.ID, metal.MachineRunning); !got.PoweredOn {
		t.Errorf("machine after the power-on: %+v, want powered on", got)
	}
}

func waitServer(t *testing.T, name string, ok func(*metalv1alpha1.Server) bool) *metalv1alpha1.Server {
	t.Helper()
	srv := &metalv1alpha1.Server{}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, srv); err == nil && ok(srv) {
			return srv
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s did not reach the expected state: spec %+v status %s/%s", name, srv.Spec.ServerClaimRef, srv.Status.State, srv.Status.PowerState)
		}
	}
}

func waitMachine(t *testing.T, b *ironcore.Backend, id string, state metal.MachineState) *metal.Machine {
	t.Helper()
	var m *metal.Machine
	var err error
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if m, err = b.GetMachine(context.Background(), id); err == nil && m.State == state {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("machine %s: %+v, %v; want state %s", id, m, err, state)
		}
	}
}
