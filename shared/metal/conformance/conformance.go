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
	t.Run("OutageIsTypedAndCreatesNothing", s.outage)
	t.Run("IPs", s.ips)
	t.Run("Networks", s.networks)
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

func (s *suite) free(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.Client.FreeMachine(context.Background(), id); err != nil {
			t.Errorf("free machine %s: %v", id, err)
		}
	}
	for _, id := range ids {
		s.waitGone(t, id)
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
	s.free(t, m.ID)
	if err := s.Client.FreeMachine(ctx, m.ID); err != nil {
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
	s.free(t, a.ID)
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
	var all []string
	for i, err := range errs {
		if err != nil {
			t.Errorf("allocate conc-%02d: %v", i, err)
			continue
		}
		all = append(all, got[i].ID)
	}
	defer s.free(t, all...)
	if t.Failed() {
		return
	}
	servers := map[string]string{}
	for _, id := range all {
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
	var all []string
	defer func() { s.free(t, all...) }()
	for i := range s.Capacity {
		m, err := s.Client.AllocateMachine(ctx, s.spec(fmt.Sprintf("fill-%02d", i)))
		if err != nil {
			t.Fatalf("allocate fill-%02d of %d: %v", i, s.Capacity, err)
		}
		all = append(all, m.ID)
	}
	for _, id := range all {
		s.waitBound(t, id)
	}
	_, err := s.Client.AllocateMachine(ctx, s.spec("one-too-many"))
	if !metal.IsNoCapacity(err) {
		if err == nil {
			if m, ferr := s.Client.FindMachine(ctx, s.Cluster, "one-too-many"); ferr == nil {
				all = append(all, m.ID)
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
