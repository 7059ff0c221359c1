package balancer_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/metalkube/metalkube/components/lb/balancer"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/memory"
)

func newBalancer(t *testing.T) (*balancer.Balancer, *memory.Backend) {
	t.Helper()
	mem := memory.New(memory.Config{Pools: []memory.Pool{
		{Network: "internet", Prefix: netip.MustParsePrefix("203.0.113.0/24")},
		{Network: "internet", Prefix: netip.MustParsePrefix("2001:db8::/120")},
	}})
	b, err := balancer.New(balancer.Config{Cluster: "c", IPs: mem, Network: "internet"})
	if err != nil {
		t.Fatal(err)
	}
	return b, mem
}

func svc(name, ip string, ann map[string]string, fams ...corev1.IPFamily) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Annotations: ann},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerIP: ip, IPFamilies: fams}}
}

func ips(t *testing.T, mem *memory.Backend) []metal.IP {
	t.Helper()
	out, err := mem.FindIPs(context.Background(), metal.IPQuery{Cluster: "c"})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRequested(t *testing.T) {
	for _, tc := range []struct {
		name    string
		svc     *corev1.Service
		want    string
		wantErr string
	}{
		{"ephemeral", svc("a", "", nil), "", ""},
		{"spec", svc("a", "203.0.113.9", nil), "203.0.113.9", ""},
		{"annotation wins", svc("a", "203.0.113.9", map[string]string{balancer.AnnotationIPs: "203.0.113.8, 2001:db8::8"}), "203.0.113.8,2001:db8::8", ""},
		{"garbage", svc("a", "", map[string]string{balancer.AnnotationIPs: "x"}), "", "not an IP address"},
		{"two of a family", svc("a", "", map[string]string{balancer.AnnotationIPs: "203.0.113.8,203.0.113.9"}), "", "two addresses of one family"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := balancer.Requested(tc.svc)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !balancer.IsInputError(err) {
					t.Fatalf("err = %v, want input error %q", err, tc.wantErr)
				}
				return
			}
			var s []string
			for _, a := range got {
				s = append(s, a.String())
			}
			if strings.Join(s, ",") != tc.want || err != nil {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestDualStackEphemeral(t *testing.T) {
	b, mem := newBalancer(t)
	ctx := context.Background()
	s := svc("web", "", nil, corev1.IPv6Protocol, corev1.IPv4Protocol)
	got, err := b.Ensure(ctx, s)
	if err != nil || len(got) != 2 || !got[0].Is4() || !got[1].Is6() {
		t.Fatalf("Ensure = %v, %v; want an IPv4 and an IPv6 address, IPv4 first", got, err)
	}
	again, err := b.Ensure(ctx, s)
	if err != nil || fmt.Sprint(again) != fmt.Sprint(got) {
		t.Fatalf("second Ensure = %v, %v; want the same %v", again, err, got)
	}
	if err := b.Release(ctx, s); err != nil {
		t.Fatal(err)
	}
	if n := len(ips(t, mem)); n != 0 {
		t.Fatalf("%d IPs left after release", n)
	}
}

func TestSwitchFromEphemeralToStatic(t *testing.T) {
	b, mem := newBalancer(t)
	ctx := context.Background()
	s := svc("web", "", nil)
	if _, err := b.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Spec.LoadBalancerIP = "203.0.113.50"
	got, err := b.Ensure(ctx, s)
	if err != nil || len(got) != 1 || got[0].String() != "203.0.113.50" {
		t.Fatalf("Ensure = %v, %v", got, err)
	}
	if all := ips(t, mem); len(all) != 1 || all[0].Type != metal.IPStatic {
		t.Fatalf("IPs %+v: the ephemeral IP should be freed", all)
	}
}

func TestConcurrentSharersKeepEveryTag(t *testing.T) {
	b, mem := newBalancer(t)
	shared := map[string]string{balancer.AnnotationAllowSharedIP: "web"}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := b.Ensure(ctx, svc(fmt.Sprintf("s%d", i), "203.0.113.77", shared)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	all := ips(t, mem)
	if len(all) != 1 || len(balancer.Services(&all[0])) != 20 {
		t.Fatalf("IPs %+v: want one IP tagged with 20 services", all)
	}
	for i := range 19 {
		if err := b.Release(ctx, svc(fmt.Sprintf("s%d", i), "203.0.113.77", shared)); err != nil {
			t.Fatal(err)
		}
	}
	if all := ips(t, mem); len(all) != 1 {
		t.Fatalf("shared IP freed while s19 uses it")
	}
	if err := b.Release(ctx, svc("s19", "203.0.113.77", shared)); err != nil {
		t.Fatal(err)
	}
	// A static IP stays reserved for its address, untagged.
	if all := ips(t, mem); len(all) != 1 || len(balancer.Services(&all[0])) != 0 {
		t.Fatalf("shared static IP after its last service: %+v, want kept without services", all)
	}
}

func TestForeignStaticIPIsUntaggedNotFreed(t *testing.T) {
	b, mem := newBalancer(t)
	ctx := context.Background()
	if _, err := mem.AllocateIP(ctx, metal.IPSpec{Name: "reserved", Cluster: "c", Network: "internet", Type: metal.IPStatic, Address: netip.MustParseAddr("203.0.113.60")}); err != nil {
		t.Fatal(err)
	}
	s := svc("web", "203.0.113.60", nil)
	if _, err := b.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(ctx, s); err != nil {
		t.Fatal(err)
	}
	all := ips(t, mem)
	if len(all) != 1 || len(balancer.Services(&all[0])) != 0 {
		t.Fatalf("IPs %+v: the user's reserved IP must stay, untagged", all)
	}
}

func TestEphemeralOfAnotherServiceIsNotShared(t *testing.T) {
	b, _ := newBalancer(t)
	ctx := context.Background()
	got, err := b.Ensure(ctx, svc("owner", "", nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Ensure(ctx, svc("thief", got[0].String(), nil))
	if !balancer.IsInputError(err) || !strings.Contains(err.Error(), "ns/owner") {
		t.Fatalf("err = %v, want an input error naming ns/owner", err)
	}
}

func TestOutageFreesNothing(t *testing.T) {
	b, mem := newBalancer(t)
	ctx := context.Background()
	s := svc("web", "", nil)
	if _, err := b.Ensure(ctx, s); err != nil {
		t.Fatal(err)
	}
	mem.SetUnavailable(true)
	if err := b.Release(ctx, s); !metal.IsUnavailable(err) {
		t.Fatalf("Release during outage = %v, want ErrUnavailable", err)
	}
	mem.SetUnavailable(false)
	if n := len(ips(t, mem)); n != 1 {
		t.Fatalf("%d IPs after a failed release, want 1", n)
	}
}

// TestSharingNeedsTheSameKey: a static IP in use is taken by another Service
// only when both carry the same share key; the key goes with the last user.
func TestSharingNeedsTheSameKey(t *testing.T) {
	const addr = "203.0.113.80"
	key := func(k string) map[string]string { return map[string]string{balancer.AnnotationAllowSharedIP: k} }
	for _, tc := range []struct {
		name         string
		owner, other map[string]string
		wantErr      string
	}{
		{name: "neither has a key", wantErr: "is used by service ns/owner"},
		{name: "only the owner has one", owner: key("k"), wantErr: "is used by service ns/owner"},
		{name: "only the newcomer has one", other: key("k"), wantErr: "is used by service ns/owner"},
		{name: "different keys", owner: key("k"), other: key("j"), wantErr: `this Service has "j", the address "k"`},
		{name: "the same key", owner: key("k"), other: key("k")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, mem := newBalancer(t)
			ctx := context.Background()
			if _, err := b.Ensure(ctx, svc("owner", addr, tc.owner)); err != nil {
				t.Fatal(err)
			}
			_, err := b.Ensure(ctx, svc("other", addr, tc.other))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if all := ips(t, mem); len(all) != 1 || len(balancer.Services(&all[0])) != 2 {
					t.Fatalf("IPs %+v: want one IP with both services", all)
				}
				return
			}
			if !balancer.IsInputError(err) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want an input error with %q", err, tc.wantErr)
			}
			if all := ips(t, mem); len(all) != 1 || strings.Join(balancer.Services(&all[0]), ",") != "ns/owner" {
				t.Fatalf("IPs %+v: the refused Service must not be on the IP", all)
			}
		})
	}
	// The key leaves with the last user: a new Service without a key may
	// then take the address.
	b, mem := newBalancer(t)
	ctx := context.Background()
	if _, err := b.Ensure(ctx, svc("owner", addr, key("k"))); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(ctx, svc("owner", addr, key("k"))); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Ensure(ctx, svc("next", addr, nil)); err != nil {
		t.Fatalf("address free again, but: %v", err)
	}
	if all := ips(t, mem); all[0].Tags[balancer.TagShareKey] != "" {
		t.Fatalf("share key %q left on the IP", all[0].Tags[balancer.TagShareKey])
	}
}

// TestEgressIPIsNeverHandedOut: the cluster's egress IPs are refused to
// Services, even unused.
func TestEgressIPIsNeverHandedOut(t *testing.T) {
	b, mem := newBalancer(t)
	ctx := context.Background()
	if _, err := mem.AllocateIP(ctx, metal.IPSpec{Name: "egress-internet-0", Cluster: "c", Network: "internet", Type: metal.IPStatic,
		Address: netip.MustParseAddr("203.0.113.90"), Tags: map[string]string{metal.TagPurpose: metal.PurposeEgress}}); err != nil {
		t.Fatal(err)
	}
	_, err := b.Ensure(ctx, svc("thief", "203.0.113.90", nil))
	if !balancer.IsInputError(err) || !strings.Contains(err.Error(), "egress IP") {
		t.Fatalf("err = %v, want an input error saying it is an egress IP", err)
	}
	if all := ips(t, mem); len(balancer.Services(&all[0])) != 0 {
		t.Fatalf("egress IP tagged with a Service: %+v", all[0].Tags)
	}
}

// TestNetworkAnnotationAllowList: a Service may pick only the networks the
// cluster is configured for.
func TestNetworkAnnotationAllowList(t *testing.T) {
	mem := memory.New(memory.Config{Pools: []memory.Pool{
		{Network: "internet", Prefix: netip.MustParsePrefix("203.0.113.0/24")},
		{Network: "storage", Prefix: netip.MustParsePrefix("198.51.100.0/24")},
		{Network: "other-tenant", Prefix: netip.MustParsePrefix("192.0.2.0/24")},
	}})
	b, err := balancer.New(balancer.Config{Cluster: "c", IPs: mem, Network: "internet", AdditionalNetworks: []string{"storage"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pick := func(n string) map[string]string { return map[string]string{balancer.AnnotationNetwork: n} }
	got, err := b.Ensure(ctx, svc("st", "", pick("storage")))
	if err != nil || !netip.MustParsePrefix("198.51.100.0/24").Contains(got[0]) {
		t.Fatalf("additional network: %v, %v", got, err)
	}
	for _, s := range []*corev1.Service{svc("eph", "", pick("other-tenant")), svc("static", "192.0.2.7", pick("other-tenant"))} {
		_, err := b.Ensure(ctx, s)
		if !balancer.IsInputError(err) || !strings.Contains(err.Error(), `network "other-tenant" is not one this cluster may take IPs from (internet, storage)`) {
			t.Errorf("%s: err = %v, want a refusal naming the allowed networks", s.Name, err)
		}
	}
	if n := len(ips(t, mem)); n != 1 {
		t.Fatalf("%d IPs, want only the storage one", n)
	}
}
