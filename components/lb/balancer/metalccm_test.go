package balancer_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metalgo "github.com/metal-stack/metal-go"
	metalip "github.com/metal-stack/metal-go/api/client/ip"
	"github.com/metal-stack/metal-go/api/models"
	"github.com/metal-stack/metal-lib/pkg/tag"
	corev1 "k8s.io/api/core/v1"

	"github.com/metalkube/metalkube/components/lb/balancer"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/metalstack"
	"github.com/metalkube/metalkube/shared/metalapi"
)

// These tests run the balancer on the metal-stack backend against the
// metal-api emulator, with IPs made the way metal-ccm makes them
// (github.com/metal-stack/metal-ccm, pkg/resources/metal/ip.go and
// pkg/controllers/loadbalancer/loadbalancer.go).

const (
	ccmProject = "proj-1"
	ccmKey     = "hmac-key"
)

type metalStack struct {
	e       *metalapi.Emulator
	backend *metalstack.Backend
	api     metalgo.Client
}

func newMetalStack(t *testing.T) *metalStack {
	t.Helper()
	e := metalapi.New(metalapi.Config{
		Machines: metalapi.Inventory("0000cc01", "part-1", "s1", 1),
		Networks: []metalapi.Network{
			{ID: "internet", Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/120")}, Shared: true},
			{ID: "tenant-super", Partition: "part-1", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, PrivateSuper: true},
		},
		Projects: []string{ccmProject},
		HMAC:     map[string]string{"Metal-Edit": ccmKey},
	})
	t.Cleanup(e.Close)
	b, err := metalstack.New(metalstack.Config{URL: e.URL(), HMAC: ccmKey, HMACAuthType: "Metal-Edit", Project: ccmProject, Partition: "part-1",
		Networks: []string{"internet"}, PollInterval: 5 * time.Millisecond, WaitTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	api, err := metalgo.NewClient(e.URL(), metalgo.HMACAuth(ccmKey, "Metal-Edit"))
	if err != nil {
		t.Fatal(err)
	}
	return &metalStack{e: e, backend: b, api: api}
}

func (m *metalStack) balancer(t *testing.T, cluster string) *balancer.Balancer {
	t.Helper()
	b, err := balancer.New(balancer.Config{Cluster: cluster, IPs: m.backend, Network: "internet"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ccmServiceTag is metal-ccm's tags.BuildClusterServiceFQNTag.
func ccmServiceTag(cluster, namespace, name string) string {
	return fmt.Sprintf("%s=%s/%s/%s", tag.ClusterServiceFQN, cluster, namespace, name)
}

// ccmAllocate allocates an IP for a Service as metal-ccm's AllocateIP does:
// a "metallb-" name, ephemeral, tagged only with the Service tag.
func (m *metalStack) ccmAllocate(t *testing.T, cluster, namespace, name string) string {
	t.Helper()
	resp, err := m.api.IP().AllocateIP(metalip.NewAllocateIPParams().WithBody(&models.V1IPAllocateRequest{
		Name: "metallb-" + name[:min(5, len(name))], Projectid: new(ccmProject), Networkid: new("internet"),
		Type: new(models.V1IPBaseTypeEphemeral), Tags: []string{ccmServiceTag(cluster, namespace, name)},
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return *resp.Payload.Ipaddress
}

// userStatic allocates a static IP in the project as a user does with
// metalctl, without cluster or Service tags.
func (m *metalStack) userStatic(t *testing.T, name string) string {
	t.Helper()
	resp, err := m.api.IP().AllocateIP(metalip.NewAllocateIPParams().WithBody(&models.V1IPAllocateRequest{
		Name: name, Projectid: new(ccmProject), Networkid: new("internet"), Type: new(models.V1IPBaseTypeStatic), Tags: []string{},
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return *resp.Payload.Ipaddress
}

// ccmAttach is metal-ccm's useIPInCluster: the Service tag appended, sent
// without a type.
func (m *metalStack) ccmAttach(t *testing.T, addr, cluster, namespace, name string) {
	t.Helper()
	found, err := m.api.IP().FindIP(metalip.NewFindIPParams().WithID(addr), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.api.IP().UpdateIP(metalip.NewUpdateIPParams().WithBody(&models.V1IPUpdateRequest{
		Ipaddress: new(addr), Tags: append(found.Payload.Tags, ccmServiceTag(cluster, namespace, name)),
	}), nil); err != nil {
		t.Fatal(err)
	}
}

func TestMigrationFromMetalCCM(t *testing.T) {
	m := newMetalStack(t)
	ctx := context.Background()
	// What metal-ccm left in cluster c1: an ephemeral IP it allocated for
	// default/web (and wrote into spec.loadBalancerIP), a user's static IP
	// it attached to default/fixed; and an IP of cluster c10.
	web := m.ccmAllocate(t, "c1", "default", "web")
	fixed := m.userStatic(t, "my-reserved-ip")
	m.ccmAttach(t, fixed, "c1", "default", "fixed")
	other := m.ccmAllocate(t, "c10", "default", "web")
	before := len(m.e.IPs())

	b := m.balancer(t, "c1")
	inDefault := func(name, ip string) *corev1.Service {
		s := svc(name, ip, nil)
		s.Namespace = "default"
		return s
	}
	for _, tc := range []struct{ svc, ip string }{{"web", web}, {"fixed", fixed}} {
		got, err := b.Ensure(ctx, inDefault(tc.svc, tc.ip))
		if err != nil || len(got) != 1 || got[0].String() != tc.ip {
			t.Fatalf("Ensure %s = %v, %v; want %s kept", tc.svc, got, err, tc.ip)
		}
	}
	// The Services' IPs are found without a loadBalancerIP too: no double
	// allocation.
	s := inDefault("web", "")
	if got, err := b.Ensure(ctx, s); err != nil || len(got) != 1 || got[0].String() != web {
		t.Fatalf("Ensure default/web without an address = %v, %v; want %s", got, err, web)
	}
	if n := len(m.e.IPs()); n != before {
		t.Fatalf("%d IPs after adopting metal-ccm's, want %d: something was allocated twice", n, before)
	}
	// c1 is not a prefix match: c10's IP is not c1's.
	ips, err := m.backend.FindIPs(ctx, metal.IPQuery{Cluster: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips {
		if ip.Address.String() == other {
			t.Errorf("cluster c1 finds c10's IP %s", other)
		}
	}
	if len(ips) != 2 {
		t.Errorf("cluster c1 has %d IPs, want 2: %+v", len(ips), ips)
	}
	// A new Service's IP carries metal-ccm's Service tag.
	fresh, err := b.Ensure(ctx, svc("new", "", nil))
	if err != nil {
		t.Fatal(err)
	}
	if raw := m.e.IPTags(fresh[0].String()); !slices.Contains(raw, ccmServiceTag("c1", "ns", "new")) || !slices.Contains(raw, tag.ClusterID+"=c1") {
		t.Errorf("tags of a new Service IP %v, want metal-ccm's Service tag and the cluster tag", raw)
	}
	// Releasing: metal-ccm's ephemeral IP is freed with its last Service,
	// the static IP stays, untagged.
	s.Spec.LoadBalancerIP = web
	if err := b.Release(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(ctx, inDefault("fixed", fixed)); err != nil {
		t.Fatal(err)
	}
	left := m.e.IPs()
	if slices.Contains(left, web) {
		t.Errorf("metal-ccm's ephemeral IP %s kept after its Service", web)
	}
	if !slices.Contains(left, fixed) {
		t.Fatalf("static IP %s freed", fixed)
	}
	for _, tg := range m.e.IPTags(fixed) {
		if strings.HasPrefix(tg, tag.ClusterServiceFQN) {
			t.Errorf("static IP still tagged %s", tg)
		}
	}
	if !slices.Contains(left, other) {
		t.Errorf("c10's IP %s freed by c1", other)
	}
}

func TestProjectIPsAreAttachedAsMetalCCMDoes(t *testing.T) {
	m := newMetalStack(t)
	ctx := context.Background()
	b := m.balancer(t, "c1")
	// A static IP of the project without any cluster tag.
	reserved := m.userStatic(t, "reserved")
	got, err := b.Ensure(ctx, svc("web", reserved, nil))
	if err != nil || len(got) != 1 || got[0].String() != reserved {
		t.Fatalf("Ensure with the project's static IP = %v, %v", got, err)
	}
	if raw := m.e.IPTags(reserved); !slices.Contains(raw, ccmServiceTag("c1", "ns", "web")) {
		t.Errorf("tags %v, want metal-ccm's Service tag", raw)
	}
	if err := b.Release(ctx, svc("web", reserved, nil)); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m.e.IPs(), reserved) {
		t.Errorf("the user's static IP was freed")
	}
	// A machine's IP is not a Service's (metal-ccm refuses it too).
	mach, err := m.backend.AllocateMachine(ctx, metal.MachineSpec{Name: "w1", Cluster: "c1", Size: "s1", Image: "ubuntu-24.04"})
	if err != nil {
		t.Fatal(err)
	}
	var external string
	for _, a := range mach.Addresses {
		if a.Type == metal.AddressExternalIP && strings.HasPrefix(a.Address, "203.") {
			external = a.Address
		}
	}
	_, err = b.Ensure(ctx, svc("steal", external, nil))
	if !balancer.IsInputError(err) || !strings.Contains(err.Error(), mach.ID) {
		t.Fatalf("Ensure with machine %s's IP %s = %v, want an input error naming the machine", mach.ID, external, err)
	}
}

func TestTagUpdatesOfOneIPDoNotLoseEachOther(t *testing.T) {
	m := newMetalStack(t)
	ctx := context.Background()
	shared := m.userStatic(t, "shared")
	// Two balancers (two controllers of one process: the ccm's and the lb
	// controller) share the backend but not their address locks.
	bs := []*balancer.Balancer{m.balancer(t, "c1"), m.balancer(t, "c1")}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if _, err := bs[i%2].Ensure(ctx, svc(fmt.Sprintf("s%02d", i), shared, map[string]string{balancer.AnnotationAllowSharedIP: "shared"})); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n := 0
	for _, tg := range m.e.IPTags(shared) {
		if strings.HasPrefix(tg, tag.ClusterServiceFQN+"=") {
			n++
		}
	}
	if n != 16 {
		t.Fatalf("%d Service tags on the shared IP, want 16: %v", n, m.e.IPTags(shared))
	}
}
