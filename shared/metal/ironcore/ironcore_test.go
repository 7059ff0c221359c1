package ironcore_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metalv1alpha1 "github.com/ironcore-dev/metal-operator/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	ctrl.SetLogger(logr.Discard()) // the emulator's logs
	os.Exit(testenv.Main(m, testenv.Options{CRDs: []testenv.CRDSet{testenv.MetalOperator, testenv.ClusterAPIIPAM}}, &env))
}

var lbPool = fleet.Pool{APIGroup: "ipam.cluster.x-k8s.io", Kind: "GlobalInClusterIPPool", Name: "public",
	Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/27"), netip.MustParsePrefix("2001:db8:1::/120")}}

// setup starts an emulator with n servers of size, under a fresh namespace and
// server-name prefix, and returns a backend that reaches it through the
// emulator's outage switch.
func setup(t testing.TB, prefix, size string, n int) (*ironcore.Backend, *fleet.Emulator, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ns := "ic-" + prefix
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	pool := lbPool
	pool.Name = "public-" + prefix
	emu, err := fleet.New(env.Config, env.Config, fleet.Config{Servers: n, Prefix: prefix, Sizes: []string{size}, Pools: []fleet.Pool{pool}})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(emu.WrapConfig(env.Config), client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ironcore.New(ironcore.Config{Client: c, Namespace: ns, Pools: map[string]ironcore.PoolRef{"internet": pool.Ref()}, IPTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return b, emu, ns
}

func TestConformance(t *testing.T) {
	b, emu, _ := setup(t, "conf", "conf-size", 20)
	conformance.Run(t, conformance.Backend{
		Client: b, Cluster: "shoot-conf", Size: "conf-size", Capacity: 20, Image: "ubuntu-24.04",
		Network: "internet", InPool: netip.MustParseAddr("203.0.113.20"), Outside: netip.MustParseAddr("198.51.100.7"),
		SetUnavailable: emu.SetOutage,
	})
}

func TestFreeReturnsServerToAvailable(t *testing.T) {
	b, _, _ := setup(t, "free", "free-size", 1)
	ctx := context.Background()
	m, err := b.AllocateMachine(ctx, metal.MachineSpec{Name: "m1", Cluster: "c", Image: "img", Size: "free-size"})
	if err != nil {
		t.Fatal(err)
	}
	srv := waitServer(t, "free-000", func(s *metalv1alpha1.Server) bool {
		return s.Status.State == metalv1alpha1.ServerStateReserved && s.Status.PowerState == metalv1alpha1.ServerOnPowerState
	})
	if ref := srv.Spec.ServerClaimRef; ref == nil || ref.Name != "m1" {
		t.Fatalf("server claim ref = %+v, want m1", ref)
	}
	if err := b.FreeMachine(ctx, m.ID, metal.OwnerOf(m)); err != nil {
		t.Fatal(err)
	}
	srv = waitServer(t, "free-000", func(s *metalv1alpha1.Server) bool {
		return s.Status.State == metalv1alpha1.ServerStateAvailable && s.Spec.ServerClaimRef == nil
	})
	if srv.Status.PowerState != metalv1alpha1.ServerOffPowerState {
		t.Errorf("released server power = %s, want Off", srv.Status.PowerState)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "ic-free", Name: "m1"}, &corev1.Secret{}); err == nil {
		t.Errorf("user-data secret left after free")
	}
}

func TestNoCapacityNamesSelector(t *testing.T) {
	b, _, _ := setup(t, "nocap", "nocap-size", 1)
	_, err := b.AllocateMachine(context.Background(), metal.MachineSpec{Name: "m1", Cluster: "c", Image: "img", Size: "no-such-size"})
	if !metal.IsNoCapacity(err) {
		t.Fatalf("err = %v, want ErrNoCapacity", err)
	}
	if !strings.Contains(err.Error(), "metal.metalkube.io/size=no-such-size") {
		t.Errorf("error %q does not name the selector", err)
	}
	claims := &metalv1alpha1.ServerClaimList{}
	if err := env.Client.List(context.Background(), claims, client.InNamespace("ic-nocap")); err != nil || len(claims.Items) != 0 {
		t.Errorf("claims left after no-capacity: %d (%v)", len(claims.Items), err)
	}
}

func TestOutageCreatesNothing(t *testing.T) {
	b, emu, ns := setup(t, "outage", "outage-size", 2)
	ctx := context.Background()
	emu.SetOutage(true)
	_, err := b.AllocateMachine(ctx, metal.MachineSpec{Name: "m1", Cluster: "c", Image: "img", Size: "outage-size", UserData: []byte("secret")})
	emu.SetOutage(false)
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
	b, emu, _ := setup(t, "lost", "lost-size", 1)
	ctx := context.Background()
	m, err := b.AllocateMachine(ctx, metal.MachineSpec{Name: "m1", Cluster: "c", Image: "img", Size: "lost-size"})
	if err != nil {
		t.Fatal(err)
	}
	waitMachine(t, b, m.ID, metal.MachineRunning)
	if err := emu.LoseServer(ctx, "lost-000"); err != nil {
		t.Fatal(err)
	}
	waitMachine(t, b, m.ID, metal.MachineLost)
}

func TestPowerOff(t *testing.T) {
	b, _, _ := setup(t, "power", "power-size", 1)
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

func TestIPv6Static(t *testing.T) {
	b, _, _ := setup(t, "ipv6", "ipv6-size", 1)
	want := netip.MustParseAddr("2001:db8:1::42")
	ip, err := b.AllocateIP(context.Background(), metal.IPSpec{Name: "v6", Cluster: "c", Network: "internet", Type: metal.IPStatic, Address: want})
	if err != nil || ip.Address != want {
		t.Fatalf("allocate %s = %+v, %v", want, ip, err)
	}
}

func TestDualStackFamilies(t *testing.T) {
	b, _, _ := setup(t, "family", "family-size", 1)
	ctx := context.Background()
	for _, tt := range []struct {
		family int
		v6     bool
	}{{4, false}, {6, true}} {
		ip, err := b.AllocateIP(ctx, metal.IPSpec{Name: fmt.Sprintf("fam-%d", tt.family), Cluster: "c", Network: "internet", Family: tt.family})
		if err != nil {
			t.Fatalf("family %d: %v", tt.family, err)
		}
		if ip.Address.Is6() != tt.v6 {
			t.Errorf("family %d: got %s", tt.family, ip.Address)
		}
	}
}

func waitServer(t *testing.T, name string, ok func(*metalv1alpha1.Server) bool) *metalv1alpha1.Server {
	t.Helper()
	srv := &metalv1alpha1.Server{}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
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
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if m, err = b.GetMachine(context.Background(), id); err == nil && m.State == state {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("machine %s: %+v, %v; want state %s", id, m, err, state)
		}
	}
}
