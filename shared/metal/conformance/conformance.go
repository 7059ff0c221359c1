package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metalkube/metalkube/shared/metal"
)

// Backend describes the backend under test.
type Backend struct {
	Client metal.Client
	// Cluster is the cluster name the suite allocates for; unique per run.
	Cluster string
	// Size and Selector select the servers the suite may use; Capacity is how
	// many free servers match them (at least 3).
	Size     string
	Selector map[string]string
	Capacity int
	// Image to request.
	Image string
	// Network is an IP network with a pool; InPool is a free address inside it,
	// Outside one outside every pool of the network.
	Network string
	InPool  netip.Addr
	Outside netip.Addr
	// Families are the IP families (4, 6) Network has pools for; each is asked
	// for and must be the family got. Empty skips the family test.
	Families []int
	// Small is a network whose pool holds exactly SmallCapacity addresses, for
	// the exhaustion test; empty skips it.
	Small         string
	SmallCapacity int
	// Leftovers lists what the backend still holds for Cluster's IPs (claims,
	// addresses, reservations) once the suite has freed them all; nil skips
	// the leak checks.
	Leftovers func(ctx context.Context, cluster string) ([]string, error)
	// SetUnavailable switches a simulated outage; nil skips the outage test.
	SetUnavailable func(down bool)
	// Timeout bounds waiting for a machine to be bound; default 30s.
	Timeout time.Duration
}

// Run runs the suite.
func Run(t *testing.T, b Backend) {
	if b.Capacity < 3 {
		t.Fatalf("conformance: Capacity %d, need at least 3 free servers", b.Capacity)
	}
	if b.Timeout == 0 {
		b.Timeout = 30 * time.Second
	}
	s := &suite{Backend: b}
	t.Run("AllocateGetListFree", s.allocateGetListFree)
	t.Run("AllocateIsIdempotent", s.allocateIdempotent)
	t.Run("ConcurrentAllocationsGetDistinctServers", s.concurrent)
	t.Run("NoCapacityIsTyped", s.noCapacity)
	t.Run("FreeChecksTheOwner", s.freeChecksOwner)
	t.Run("OutageIsTypedAndCreatesNothing", s.outage)
	t.Run("IPs", s.ips)
	t.Run("IPFamilies", s.ipFamilies)
	t.Run("IPExhaustionIsNoCapacity", s.ipExhaustion)
	t.Run("Networks", s.networks)
}

// checkLeftovers fails when the backend still holds something for the
// suite's IPs.
func (s *suite) checkLeftovers(t *testing.T) {
	t.Helper()
	if s.Leftovers == nil {
		return
	}
	left, err := s.Leftovers(context.Background(), s.Cluster)
	if err != nil {
		t.Fatalf("leftovers: %v", err)
	}
	if len(left) > 0 {
		t.Errorf("left behind after freeing every IP: %v", left)
	}
}

func (s *suite) ipFamilies(t *testing.T) {
	if len(s.Families) == 0 {
		t.Skip("no IP families given")
	}
	ctx := context.Background()
	for _, f := range s.Families {
		t.Run(fmt.Sprintf("IPv%d", f), func(t *testing.T) {
			ip, err := s.Client.AllocateIP(ctx, metal.IPSpec{Name: fmt.Sprintf("fam-%d", f), Cluster: s.Cluster, Network: s.Network, Family: f})
			if err != nil {
				t.Fatalf("allocate family %d: %v", f, err)
			}
			if got := map[bool]int{true: 4, false: 6}[ip.Address.Unmap().Is4()]; got != f {
				t.Errorf("asked for family %d, got %s", f, ip.Address)
			}
			other := 10 - f
			if _, err := s.Client.AllocateIP(ctx, metal.IPSpec{Name: fmt.Sprintf("fam-%d", f), Cluster: s.Cluster, Network: s.Network, Family: other}); !metal.IsConflict(err) {
				t.Errorf("asking again for family %d: err = %v, want ErrConflict", other, err)
			}
			if err := s.Client.FreeIP(ctx, ip.ID); err != nil {
				t.Fatalf("free: %v", err)
			}
		})
	}
	s.checkLeftovers(t)
}

func (s *suite) ipExhaustion(t *testing.T) {
	if s.Small == "" {
		t.Skip("no small network given")
	}
	ctx := context.Background()
	var got []*metal.IP
	for i := range s.SmallCapacity {
		ip, err := s.Client.AllocateIP(ctx, metal.IPSpec{Name: fmt.Sprintf("small-%d", i), Cluster: s.Cluster, Network: s.Small})
		if err != nil {
			t.Fatalf("allocate %d of %d: %v", i+1, s.SmallCapacity, err)
		}
		got = append(got, ip)
	}
	_, err := s.Client.AllocateIP(ctx, metal.IPSpec{Name: "small-over", Cluster: s.Cluster, Network: s.Small})
	if !metal.IsNoCapacity(err) {
		t.Fatalf("allocate beyond the pool: err = %v, want ErrNoCapacity", err)
	}
	// The refused request holds nothing: a freed address goes to the next
	// request, not to a claim left behind.
	if err := s.Client.FreeIP(ctx, got[0].ID); err != nil {
		t.Fatalf("free: %v", err)
	}
	var again *metal.IP
	deadline := time.Now().Add(s.Timeout)
	for {
		again, err = s.Client.AllocateIP(ctx, metal.IPSpec{Name: "small-again", Cluster: s.Cluster, Network: s.Small})
		if !metal.IsNoCapacity(err) || time.Now().After(deadline) {
			break // the pool may take a moment to count the freed address
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("allocate after freeing one: %v", err)
	}
	for _, ip := range append(got[1:], again) {
		if err := s.Client.FreeIP(ctx, ip.ID); err != nil {
			t.Fatalf("free %s: %v", ip.ID, err)
		}
	}
	s.checkLeftovers(t)
}

type suite struct{ Backend }

func (s *suite) spec(name string) metal.MachineSpec {
	return metal.MachineSpec{Name: name, Cluster: s.Cluster, Image: s.Image, Size: s.Size, Selector: s.Selector,
		UserData: []byte(`{"ignition":{"version":"3.4.0"}}`), Tags: map[string]string{"conformance": "yes"}}
}

// waitBound polls a machine until it has a server.
func (s *suite) waitBound(t *testing.T, id string) *metal.Machine {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(s.Timeout)
	for {
		m, err := s.Client.GetMachine(ctx, id)
		if err != nil {
			t.Fatalf("get machine %s: %v", id, err)
		}
		if m.State != metal.MachinePending && m.Server != "" {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("machine %s still %s after %s", id, m.State, s.Timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitGone polls until a machine is not found.
func (s *suite) waitGone(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(s.Timeout)
	for {
		_, err := s.Client.GetMachine(context.Background(), id)
		if metal.IsNotFound(err) {
			return
		}
		if err != nil {
			t.Fatalf("get machine %s after free: %v", id, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("machine %s still there %s after free", id, s.Timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *suite) free(t *testing.T, ms ...*metal.Machine) {
	t.Helper()
	for _, m := range ms {
		if err := s.Client.FreeMachine(context.Background(), m.ID, metal.OwnerOf(m)); err != nil {
			t.Errorf("free machine %s: %v", m.ID, err)
		}
	}
	for _, m := range ms {
		s.waitGone(t, m.ID)
	}
}

func (s *suite) allocateGetListFree(t *testing.T) {
	ctx := context.Background()
	m, err := s.Client.AllocateMachine(ctx, s.spec("agf-1"))
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	if m.ID == "" || m.ProviderID == "" || m.Name != "agf-1" || m.Cluster != s.Cluster {
		t.Fatalf("allocate returned %+v: want ID, ProviderID, Name agf-1, Cluster %s", m, s.Cluster)
	}
	bound := s.waitBound(t, m.ID)
	if bound.SystemUUID == "" {
		t.Errorf("bound machine has no system UUID: %+v", bound)
	}
	found, err := s.Client.FindMachine(ctx, s.Cluster, "agf-1")
	if err != nil || found.ID != m.ID {
		t.Fatalf("find machine = %+v, %v; want ID %s", found, err, m.ID)
	}
	list, err := s.Client.ListMachines(ctx, s.Cluster)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list) != 1 || list[0].ID != m.ID {
		t.Fatalf("list = %v, want just %s", ids(list), m.ID)
	}
	other, err := s.Client.ListMachines(ctx, s.Cluster+"-other")
	if err != nil || len(other) != 0 {
		t.Fatalf("list of another cluster = %v, %v; want none", ids(other), err)
	}
	if _, err := s.Client.FindMachine(ctx, s.Cluster, "does-not-exist"); !metal.IsNotFound(err) {
		t.Fatalf("find missing machine: err = %v, want ErrNotFound", err)
	}
	s.free(t, m)
	if err := s.Client.FreeMachine(ctx, m.ID, metal.OwnerOf(m)); err != nil {
		t.Fatalf("freeing a freed machine: %v, want nil", err)
	}
}

func (s *suite) allocateIdempotent(t *testing.T) {
	ctx := context.Background()
	a, err := s.Client.AllocateMachine(ctx, s.spec("idem-1"))
	if err != nil {
		t.Fatalf("first allocate: %v", err)
	}
	first := s.waitBound(t, a.ID)
	b, err := s.Client.AllocateMachine(ctx, s.spec("idem-1"))
	if err != nil {
		t.Fatalf("second allocate: %v", err)
	}
	if b.ID != a.ID || b.Server != first.Server {
		t.Fatalf("second allocate = %s on %s, want %s on %s", b.ID, b.Server, a.ID, first.Server)
	}
	list, _ := s.Client.ListMachines(ctx, s.Cluster)
	if len(list) != 1 {
		t.Fatalf("after two allocations of one name the cluster has %d machines: %v", len(list), ids(list))
	}
	s.free(t, a)
}

// freeChecksOwner frees with a wrong or missing owner (nothing freed), then
// frees the machine, lets another cluster allocate the same name (so the
// backend may hand out the same ID again, as metal-operator's claim names
// and metal-api's machine UUIDs are) and frees the stale ID with the first
// owner: the other cluster's machine stays.
func (s *suite) freeChecksOwner(t *testing.T) {
	ctx := context.Background()
	m, err := s.Client.AllocateMachine(ctx, s.spec("own-1"))
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	bound := s.waitBound(t, m.ID)
	for _, tc := range []struct {
		owner metal.Owner
		want  func(error) bool
	}{
		{metal.Owner{Cluster: s.Cluster + "-other", Name: "own-1"}, metal.IsConflict},
		{metal.Owner{Cluster: s.Cluster, Name: "own-2"}, metal.IsConflict},
		{metal.Owner{Cluster: s.Cluster}, func(err error) bool { return errors.Is(err, metal.ErrInvalid) }},
		{metal.Owner{}, func(err error) bool { return errors.Is(err, metal.ErrInvalid) }},
	} {
		err := s.Client.FreeMachine(ctx, m.ID, tc.owner)
		if !tc.want(err) {
			t.Errorf("free %s as %+v: err = %v, want a typed refusal", m.ID, tc.owner, err)
		}
		if tc.owner.Cluster != "" && err != nil && !strings.Contains(err.Error(), tc.owner.Cluster) {
			t.Errorf("free %s as %+v: %q does not name the cluster", m.ID, tc.owner, err)
		}
		got, gerr := s.Client.GetMachine(ctx, m.ID)
		if gerr != nil || got.Server != bound.Server {
			t.Fatalf("after refused free as %+v: machine = %+v, %v; want it still on %s", tc.owner, got, gerr, bound.Server)
		}
	}
	s.free(t, m)
	other := s.spec("own-1")
	other.Cluster = s.Cluster + "-b"
	o, err := s.Client.AllocateMachine(ctx, other)
	if err != nil {
		t.Fatalf("allocate for another cluster: %v", err)
	}
	defer s.free(t, o)
	ob := s.waitBound(t, o.ID)
	t.Logf("first machine %s on %s, the other cluster's %s on %s (ID reused: %t)", m.ID, bound.Server, o.ID, ob.Server, o.ID == m.ID)
	err = s.Client.FreeMachine(ctx, m.ID, metal.OwnerOf(m))
	if o.ID == m.ID && !metal.IsConflict(err) {
		t.Errorf("free of a reused ID with the old owner: err = %v, want ErrConflict", err)
	}
	if o.ID != m.ID && err != nil {
		t.Errorf("second free of a freed machine: %v, want nil", err)
	}
	if got, err := s.Client.GetMachine(ctx, o.ID); err != nil || got.Server != ob.Server || got.Cluster != other.Cluster {
		t.Fatalf("the other cluster's machine after a stale free = %+v, %v; want it kept on %s", got, err, ob.Server)
	}
}

func (s *suite) concurrent(t *testing.T) {
	ctx := context.Background()
	n := s.Capacity
	var wg sync.WaitGroup
	got := make([]*metal.Machine, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = s.Client.AllocateMachine(ctx, s.spec(fmt.Sprintf("conc-%02d", i)))
		}()
	}
	wg.Wait()
	var all []*metal.Machine
	for i, err := range errs {
		if err != nil {
			t.Errorf("allocate conc-%02d: %v", i, err)
			continue
		}
		all = append(all, got[i])
	}
	defer s.free(t, all...)
	if t.Failed() {
		return
	}
	servers := map[string]string{}
	for _, a := range all {
		id := a.ID
		m := s.waitBound(t, id)
		if prev, dup := servers[m.Server]; dup {
			t.Errorf("server %s given to both %s and %s", m.Server, prev, id)
		}
		servers[m.Server] = id
	}
	if len(servers) != n {
		t.Errorf("%d concurrent allocations got %d distinct servers", n, len(servers))
	}
}

func (s *suite) noCapacity(t *testing.T) {
	ctx := context.Background()
	var all []*metal.Machine
	defer func() { s.free(t, all...) }()
	for i := range s.Capacity {
		m, err := s.Client.AllocateMachine(ctx, s.spec(fmt.Sprintf("fill-%02d", i)))
		if err != nil {
			t.Fatalf("allocate fill-%02d of %d: %v", i, s.Capacity, err)
		}
		all = append(all, m)
	}
	for _, m := range all {
		s.waitBound(t, m.ID)
	}
	_, err := s.Client.AllocateMachine(ctx, s.spec("one-too-many"))
	if !metal.IsNoCapacity(err) {
		if err == nil {
			if m, ferr := s.Client.FindMachine(ctx, s.Cluster, "one-too-many"); ferr == nil {
				all = append(all, m)
			}
		}
		t.Fatalf("allocate beyond capacity: err = %v, want ErrNoCapacity", err)
	}
	if want := s.selectorText(); want != "" && !strings.Contains(err.Error(), want) {
		t.Errorf("no-capacity error %q does not name the selector (%s)", err, want)
	}
	if _, ferr := s.Client.FindMachine(ctx, s.Cluster, "one-too-many"); !metal.IsNotFound(ferr) {
		t.Errorf("failed allocation left something behind: find = %v", ferr)
	}
}

// selectorText is a fragment a no-capacity error must contain to name what was asked.
func (s *suite) selectorText() string {
	if s.Size != "" {
		return s.Size
	}
	for _, v := range s.Selector {
		return v
	}
	return ""
}

func (s *suite) outage(t *testing.T) {
	if s.SetUnavailable == nil {
		t.Skip("backend has no outage switch")
	}
	ctx := context.Background()
	s.SetUnavailable(true)
	_, err := s.Client.AllocateMachine(ctx, s.spec("during-outage"))
	_, ipErr := s.Client.AllocateIP(ctx, metal.IPSpec{Name: "during-outage", Cluster: s.Cluster, Network: s.Network})
	herr := s.Client.Healthy(ctx)
	s.SetUnavailable(false)
	for name, e := range map[string]error{"allocate machine": err, "allocate ip": ipErr, "health": herr} {
		if !metal.IsUnavailable(e) {
			t.Errorf("%s during outage: err = %v, want ErrUnavailable", name, e)
		}
	}
	if _, err := s.Client.FindMachine(ctx, s.Cluster, "during-outage"); !metal.IsNotFound(err) {
		t.Errorf("machine allocation during outage left something: find = %v", err)
	}
	if ips, err := s.Client.FindIPs(ctx, metal.IPQuery{Cluster: s.Cluster}); err != nil || len(ips) != 0 {
		t.Errorf("IP allocation during outage left %v (err %v)", ips, err)
	}
	if err := s.Client.Healthy(ctx); err != nil {
		t.Errorf("health after outage: %v", err)
	}
}

func (s *suite) ips(t *testing.T) {
	ctx := context.Background()
	eph, err := s.Client.AllocateIP(ctx, metal.IPSpec{Name: "svc-a", Cluster: s.Cluster, Network: s.Network, Tags: map[string]string{"service": "default/a"}})
	if err != nil {
		t.Fatalf("allocate ephemeral: %v", err)
	}
	if !eph.Address.IsValid() || eph.Type != metal.IPEphemeral {
		t.Fatalf("ephemeral IP = %+v", eph)
	}
	again, err := s.Client.AllocateIP(ctx, metal.IPSpec{Name: "svc-a", Cluster: s.Cluster, Network: s.Network})
	if err != nil || again.ID != eph.ID || again.Address != eph.Address {
		t.Fatalf("second allocation of svc-a = %+v, %v; want %s", again, err, eph.Address)
	}
	static, err := s.Client.AllocateIP(ctx, metal.IPSpec{Name: "svc-b", Cluster: s.Cluster, Network: s.Network, Type: metal.IPStatic, Address: s.InPool})
	if err != nil {
		t.Fatalf("allocate static %s: %v", s.InPool, err)
	}
	if static.Address != s.InPool || static.Type != metal.IPStatic {
		t.Fatalf("static IP = %+v, want %s static", static, s.InPool)
	}
	if _, err := s.Client.AllocateIP(ctx, metal.IPSpec{Name: "svc-c", Cluster: s.Cluster, Network: s.Network, Type: metal.IPStatic, Address: s.InPool}); !metal.IsConflict(err) {
		t.Errorf("allocate %s twice: err = %v, want ErrConflict", s.InPool, err)
	}
	if _, err := s.Client.AllocateIP(ctx, metal.IPSpec{Name: "svc-d", Cluster: s.Cluster, Network: s.Network, Type: metal.IPStatic, Address: s.Outside}); !errors.Is(err, metal.ErrInvalid) {
		t.Errorf("allocate %s outside the pool: err = %v, want ErrInvalid", s.Outside, err)
	} else if !strings.Contains(err.Error(), s.Outside.String()) {
		t.Errorf("error %q does not name the address %s", err, s.Outside)
	}
	found, err := s.Client.FindIPs(ctx, metal.IPQuery{Cluster: s.Cluster, Tags: map[string]string{"service": "default/a"}})
	if err != nil || len(found) != 1 || found[0].ID != eph.ID {
		t.Fatalf("find by tag = %+v, %v; want just %s", found, err, eph.ID)
	}
	if _, err := s.Client.SetIPTags(ctx, static.ID, map[string]string{"service": "default/a"}); err != nil {
		t.Fatalf("set tags: %v", err)
	}
	found, _ = s.Client.FindIPs(ctx, metal.IPQuery{Cluster: s.Cluster, Tags: map[string]string{"service": "default/a"}})
	if len(found) != 2 {
		t.Fatalf("after tagging, find by tag = %d IPs, want 2", len(found))
	}
	byAddr, _ := s.Client.FindIPs(ctx, metal.IPQuery{Cluster: s.Cluster, Address: s.InPool})
	if len(byAddr) != 1 || byAddr[0].ID != static.ID {
		t.Fatalf("find by address %s = %+v", s.InPool, byAddr)
	}
	for _, id := range []string{eph.ID, static.ID} {
		if err := s.Client.FreeIP(ctx, id); err != nil {
			t.Fatalf("free ip %s: %v", id, err)
		}
		if _, err := s.Client.GetIP(ctx, id); !metal.IsNotFound(err) {
			t.Errorf("get freed ip %s: err = %v, want ErrNotFound", id, err)
		}
	}
	if err := s.Client.FreeIP(ctx, eph.ID); err != nil {
		t.Errorf("freeing a freed IP: %v, want nil", err)
	}
	if left, _ := s.Client.FindIPs(ctx, metal.IPQuery{Cluster: s.Cluster}); len(left) != 0 {
		t.Errorf("IPs left after freeing: %+v", left)
	}
	s.checkLeftovers(t)
}

func (s *suite) networks(t *testing.T) {
	ctx := context.Background()
	n, err := s.Client.AllocateNetwork(ctx, metal.NetworkSpec{Name: "nodes", Cluster: s.Cluster})
	if errors.Is(err, metal.ErrUnsupported) {
		t.Skipf("backend %s has no network API: %v", s.Client.Backend(), err)
	}
	if err != nil {
		t.Fatalf("allocate network: %v", err)
	}
	if len(n.Prefixes) == 0 {
		t.Fatalf("network without prefixes: %+v", n)
	}
	again, err := s.Client.AllocateNetwork(ctx, metal.NetworkSpec{Name: "nodes", Cluster: s.Cluster})
	if err != nil || again.ID != n.ID {
		t.Fatalf("second allocation = %+v, %v; want %s", again, err, n.ID)
	}
	other, err := s.Client.AllocateNetwork(ctx, metal.NetworkSpec{Name: "nodes", Cluster: s.Cluster + "-2"})
	if err != nil {
		t.Fatalf("allocate second cluster's network: %v", err)
	}
	if other.Prefixes[0].Overlaps(n.Prefixes[0]) {
		t.Errorf("networks of two clusters overlap: %s and %s", n.Prefixes[0], other.Prefixes[0])
	}
	for _, id := range []string{n.ID, other.ID} {
		if err := s.Client.FreeNetwork(ctx, id); err != nil {
			t.Fatalf("free network: %v", err)
		}
	}
	if left, err := s.Client.FindNetworks(ctx, s.Cluster); err != nil || len(left) != 0 {
		t.Errorf("networks left after free: %+v, %v", left, err)
	}
}

func ids(ms []metal.Machine) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}
