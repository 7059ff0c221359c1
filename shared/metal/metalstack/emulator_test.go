package metalstack_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/metalstack"
	"github.com/metalkube/metalkube/shared/providerid"
)

func spec(t testing.TB, name string) metal.MachineSpec {
	return metal.MachineSpec{Name: name, Cluster: "c1", Size: "s1", Image: "ubuntu-24.04",
		UserData: []byte(`{"ignition":{"version":"3.5.0"}}`), SSHKeys: []string{sshKey(t)},
		Tags: map[string]string{"role": "worker"}}
}

func waitState(t *testing.T, b *metalstack.Backend, id string, want metal.MachineState) *metal.Machine {
	t.Helper()
	var m *metal.Machine
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m, err = b.GetMachine(context.Background(), id); err == nil && m.State == want {
			return m
		}
	}
	t.Fatalf("machine %s: %+v, %v; want state %s", id, m, err, want)
	return nil
}

func TestMachineOnThePrivateNetwork(t *testing.T) {
	e := emulator(t, "s1", 2)
	b := backend(t, e, func(c *metalstack.Config) { c.Networks = []string{"internet"} })
	ctx := context.Background()
	n, err := b.AllocateNetwork(ctx, metal.NetworkSpec{Name: "nodes", Cluster: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := b.AllocateMachine(ctx, spec(t, "w1"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := providerid.Parse(m.ProviderID)
	if err != nil || id.Scope != partition || id.Name != m.ID {
		t.Errorf("provider ID %q: want metal://%s/%s (%v)", m.ProviderID, partition, m.ID, err)
	}
	var internal, external []string
	for _, a := range m.Addresses {
		switch a.Type {
		case metal.AddressInternalIP:
			internal = append(internal, a.Address)
		case metal.AddressExternalIP:
			external = append(external, a.Address)
		}
	}
	if len(internal) != 1 || !n.Prefixes[0].Contains(netip.MustParseAddr(internal[0])) {
		t.Errorf("internal addresses %v, want one in %s", internal, n.Prefixes[0])
	}
	// metal-api acquires one address per family of a dual-stack network
	// (makeMachineNetwork).
	if len(external) != 2 || !strings.HasPrefix(external[0], "203.0.113.") || !strings.HasPrefix(external[1], "2001:db8:1::") {
		t.Errorf("external addresses %v, want an IPv4 and an IPv6 one of the internet network", external)
	}
	if m.Tags["role"] != "worker" || m.Name != "w1" || m.Cluster != "c1" || m.Labels[metalstack.LabelSize] != "s1" {
		t.Errorf("machine %+v: want name w1, cluster c1, user tag role=worker, size label", m)
	}
	ud, err := base64.StdEncoding.DecodeString(e.UserData(m.ID))
	if err != nil || string(ud) != `{"ignition":{"version":"3.5.0"}}` {
		t.Errorf("user data on metal-api = %q (%v), want the spec's, base64 encoded", ud, err)
	}
	// The network is in use by the machine: freeing it is a conflict until the
	// machine (and its auto-acquired IPs) are gone.
	if err := b.FreeNetwork(ctx, n.ID); !metal.IsConflict(err) {
		t.Errorf("free network in use: err = %v, want ErrConflict", err)
	}
	if err := b.FreeMachine(ctx, m.ID, metal.OwnerOf(m)); err != nil {
		t.Fatal(err)
	}
	if err := b.FreeNetwork(ctx, n.ID); err != nil {
		t.Errorf("free network after its machine: %v", err)
	}
}

func TestInstallThenRunningAndPower(t *testing.T) {
	e := emulator(t, "s1", 1)
	e.SetInstallDelay(200 * time.Millisecond)
	b := backend(t, e)
	ctx := context.Background()
	m, err := b.AllocateMachine(ctx, spec(t, "w1"))
	if err != nil {
		t.Fatal(err)
	}
	if m.State != metal.MachineAllocated || m.Server == "" {
		t.Fatalf("freshly allocated machine %s, server %q; want Allocated with a server while installing", m.State, m.Server)
	}
	waitState(t, b, m.ID, metal.MachineRunning)
	if err := b.SetMachinePower(ctx, m.ID, false); err != nil {
		t.Fatal(err)
	}
	if got := waitState(t, b, m.ID, metal.MachineAllocated); got.PoweredOn || e.Power(m.ID) != "OFF" {
		t.Errorf("after power off: %+v, emulator power %s", got, e.Power(m.ID))
	}
	if err := b.SetMachinePower(ctx, m.ID, true); err != nil {
		t.Fatal(err)
	}
	waitState(t, b, m.ID, metal.MachineRunning)
}

func TestAllocatePoweredOff(t *testing.T) {
	e := emulator(t, "s1", 1)
	b := backend(t, e)
	s := spec(t, "w1")
	s.PowerOff = true
	m, err := b.AllocateMachine(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if m.PoweredOn || e.Power(m.ID) != "OFF" {
		t.Errorf("machine allocated with PowerOff: %+v, emulator power %s", m, e.Power(m.ID))
	}
}

func TestLostMachine(t *testing.T) {
	e := emulator(t, "s1", 1)
	b := backend(t, e)
	m, err := b.AllocateMachine(context.Background(), spec(t, "w1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.LoseMachine(m.ID); err != nil {
		t.Fatal(err)
	}
	waitState(t, b, m.ID, metal.MachineLost)
}

func TestSlowAllocationTimesOutAndCreatesNothing(t *testing.T) {
	e := emulator(t, "s1", 1)
	b := backend(t, e)
	e.SetAllocationDelay(2 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := b.AllocateMachine(ctx, spec(t, "w1"))
	if !metal.IsUnavailable(err) {
		t.Fatalf("allocation past the deadline: err = %v, want ErrUnavailable", err)
	}
	time.Sleep(100 * time.Millisecond) // the emulator notices the client left
	if got := e.Allocated(); len(got) != 0 {
		t.Errorf("machines allocated after a timed-out request: %v", got)
	}
	e.SetAllocationDelay(0)
	if _, err := b.AllocateMachine(context.Background(), spec(t, "w1")); err != nil {
		t.Fatalf("retry after the timeout: %v", err)
	}
}

func TestFirewalls(t *testing.T) {
	e := emulator(t, "s1", 3)
	b := backend(t, e, func(c *metalstack.Config) { c.Networks = []string{"internet"} })
	ctx := context.Background()
	var fw metalstack.Firewalls = b
	f, err := fw.AllocateFirewall(ctx, metal.MachineSpec{Name: "fw-1", Cluster: "c1", Size: "s1", Image: "firewall-ubuntu-3.0"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := fw.AllocateFirewall(ctx, metal.MachineSpec{Name: "fw-1", Cluster: "c1", Size: "s1", Image: "firewall-ubuntu-3.0"})
	if err != nil || again.ID != f.ID {
		t.Fatalf("second firewall allocation = %+v, %v; want %s", again, err, f.ID)
	}
	m, err := b.AllocateMachine(ctx, spec(t, "w1"))
	if err != nil {
		t.Fatal(err)
	}
	fws, err := fw.FindFirewalls(ctx, "c1")
	if err != nil || len(fws) != 1 || fws[0].ID != f.ID {
		t.Fatalf("find firewalls = %v, %v; want just %s", fws, err, f.ID)
	}
	ms, err := b.ListMachines(ctx, "c1")
	if err != nil || len(ms) != 1 || ms[0].ID != m.ID {
		t.Fatalf("list machines = %v, %v; want just the worker %s, not the firewall", ms, err, m.ID)
	}
	if err := fw.FreeFirewall(ctx, f.ID, metal.OwnerOf(f)); err != nil {
		t.Fatal(err)
	}
	if fws, _ := fw.FindFirewalls(ctx, "c1"); len(fws) != 0 {
		t.Errorf("firewalls after free: %v", fws)
	}
}

func TestServiceTaggedIP(t *testing.T) {
	e := emulator(t, "s1", 1)
	b := backend(t, e)
	ctx := context.Background()
	svcTag := metal.ServiceTag("default", "web")
	ip, err := b.AllocateIP(ctx, metal.IPSpec{Name: "default-web", Cluster: "c1", Network: "internet", Family: 6, Tags: map[string]string{svcTag: "c1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !ip.Address.Is6() {
		t.Errorf("family 6 gave %s", ip.Address)
	}
	// On metal-api the Service tag is metal-ccm's.
	k, v := metalstack.ServiceTag("c1", "default", "web")
	if raw := rawTags(t, e, ip.ID); !slices.Contains(raw, k+"="+v) {
		t.Errorf("tags on metal-api %v, want %s=%s", raw, k, v)
	}
	found, err := b.FindIPs(ctx, metal.IPQuery{Cluster: "c1", Tags: map[string]string{svcTag: "c1"}})
	if err != nil || len(found) != 1 || found[0].ID != ip.ID || found[0].Cluster != "c1" {
		t.Fatalf("find by service tag = %+v, %v", found, err)
	}
	// A Service tag without its cluster as value gets the IP's.
	if _, err := b.SetIPTags(ctx, ip.ID, map[string]string{svcTag: "c1", metal.ServiceTag("default", "api"): ""}); err != nil {
		t.Fatal(err)
	}
	if raw := rawTags(t, e, ip.ID); !slices.Contains(raw, metalstack.TagService+"=c1/default/api") {
		t.Errorf("tags on metal-api %v, want the second Service bound to c1", raw)
	}
	// Retagging keeps the cluster binding.
	got, err := b.SetIPTags(ctx, ip.ID, map[string]string{"free": ""})
	if err != nil || got.Cluster != "c1" || !slices.Equal([]string{"free"}, keys(got.Tags)) {
		t.Fatalf("set tags = %+v, %v", got, err)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestOtherProjectsAreNotTouched(t *testing.T) {
	e := emulator(t, "s1", 2)
	e2 := backend(t, e)
	m, err := e2.AllocateMachine(context.Background(), spec(t, "w1"))
	if err != nil {
		t.Fatal(err)
	}
	// A backend of another project (the emulator accepts every project listed).
	other, err := metalstack.New(metalstack.Config{URL: e.URL(), HMAC: hmacKey, HMACAuthType: authType, Project: "proj-2", Partition: partition})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.GetMachine(context.Background(), m.ID); !metal.IsNotFound(err) && !errors.Is(err, metal.ErrInvalid) {
		t.Errorf("other project's get: %v, want not found", err)
	}
	if err := other.FreeMachine(context.Background(), m.ID, metal.OwnerOf(m)); err != nil {
		t.Errorf("other project's free: %v", err)
	}
	if got := e.Allocated(); !slices.Contains(got, m.ID) {
		t.Errorf("machine %s freed by another project", m.ID)
	}
}

func TestCredentialsAndReachability(t *testing.T) {
	e := emulator(t, "s1", 1)
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}()
	tests := []struct {
		name  string
		cfg   metalstack.Config
		kind  error
		cause error
		url   string
	}{
		{name: "token", cfg: metalstack.Config{URL: e.URL(), Token: "emulator-token"}},
		{name: "hmac", cfg: metalstack.Config{URL: e.URL(), HMAC: hmacKey, HMACAuthType: authType}},
		{name: "wrong token", cfg: metalstack.Config{URL: e.URL(), Token: "stolen"}, kind: metal.ErrInvalid, cause: metalstack.ErrUnauthorized, url: e.URL()},
		{name: "wrong hmac key", cfg: metalstack.Config{URL: e.URL(), HMAC: "guess", HMACAuthType: authType}, kind: metal.ErrInvalid, cause: metalstack.ErrUnauthorized, url: e.URL()},
		{name: "wrong auth type", cfg: metalstack.Config{URL: e.URL(), HMAC: hmacKey}, kind: metal.ErrInvalid, cause: metalstack.ErrUnauthorized, url: e.URL()},
		{name: "nothing listens", cfg: metalstack.Config{URL: closed, Token: "emulator-token"}, kind: metal.ErrUnavailable, url: closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Project, tt.cfg.Partition = projectID, partition
			b, err := metalstack.New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = b.Healthy(context.Background())
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("healthy: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.kind) || (tt.cause != nil && !errors.Is(err, tt.cause)) {
				t.Fatalf("err = %v, want %v (%v)", err, tt.kind, tt.cause)
			}
			if !strings.Contains(err.Error(), tt.url) {
				t.Errorf("error %q does not name the URL %s", err, tt.url)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]metalstack.Config{
		"no project":       {URL: "http://metal", Token: "t"},
		"no url":           {Project: "p", Token: "t"},
		"url without host": {URL: "metal-api", Project: "p", Token: "t"},
		"no credentials":   {URL: "http://metal", Project: "p"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := metalstack.New(cfg); !errors.Is(err, metal.ErrInvalid) {
				t.Errorf("New(%+v) = %v, want ErrInvalid", cfg, err)
			}
		})
	}
}

func TestAddressPoolExhaustedIsNoCapacity(t *testing.T) {
	e := emulator(t, "s1", 1)
	b := backend(t, e)
	ctx := context.Background()
	var err error
	for i := 0; i < 40 && err == nil; i++ { // the /27 has 30 host addresses
		_, err = b.AllocateIP(ctx, metal.IPSpec{Name: "ip-" + string(rune('a'+i)), Cluster: "c1", Network: "internet", Family: 4})
	}
	if !metal.IsNoCapacity(err) {
		t.Fatalf("allocating past the pool: err = %v, want ErrNoCapacity", err)
	}
}
