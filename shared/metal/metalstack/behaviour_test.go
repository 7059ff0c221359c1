package metalstack_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	metalgo "github.com/metal-stack/metal-go"
	"github.com/metal-stack/metal-go/api/client/machine"
	"github.com/metal-stack/metal-go/api/models"

	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/metalstack"
	"github.com/metalkube/metalkube/shared/metalapi"
)

// The tests in this file follow the points of metal-api v0.43.1's real
// behaviour the emulator plays (see package metalapi): each fails against
// a backend written for a lenient metal-api.

func rawTags(t testing.TB, e *metalapi.Emulator, addr string) []string {
	t.Helper()
	tags := e.IPTags(addr)
	if tags == nil {
		t.Fatalf("ip %s is not allocated on metal-api", addr)
	}
	return tags
}

// metalGo is a metal-go client on the emulator, to act as other metal-stack
// tools (metal-ccm, mcm-provider-metal, metalctl) do.
func metalGo(t testing.TB, e *metalapi.Emulator) metalgo.Client {
	t.Helper()
	c, err := metalgo.NewClient(e.URL(), metalgo.HMACAuth(hmacKey, authType))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func addresses(m *metal.Machine, typ metal.AddressType) []string {
	var out []string
	for _, a := range m.Addresses {
		if a.Type == typ {
			out = append(out, a.Address)
		}
	}
	return out
}

// Point 1: metal-api allocates no machine without a private network.
func TestPrivateNetworkIsCreatedForAMachine(t *testing.T) {
	e := emulator(t, "s1", 1)
	b := backend(t, e, func(c *metalstack.Config) { c.Networks = []string{"internet"} })
	ctx := context.Background()
	m, err := b.AllocateMachine(ctx, spec(t, "w1"))
	if err != nil {
		t.Fatalf("allocate a machine of a cluster without a network: %v", err)
	}
	nets, err := b.FindNetworks(ctx, "c1")
	if err != nil || len(nets) != 1 || nets[0].Name != metalstack.DefaultPrivateNetworkName {
		t.Fatalf("networks of c1 = %+v, %v; want the %q network the backend allocated", nets, err, metalstack.DefaultPrivateNetworkName)
	}
	internal := addresses(m, metal.AddressInternalIP)
	if len(internal) != 1 || !nets[0].Prefixes[0].Contains(netip.MustParseAddr(internal[0])) {
		t.Errorf("internal addresses %v, want one in %s", internal, nets[0].Prefixes[0])
	}
	// A second machine joins the same network.
	if _, err := b.AllocateMachine(ctx, spec(t, "w2")); !metal.IsNoCapacity(err) {
		t.Fatalf("second machine with one in the inventory: %v, want no capacity", err)
	}
	if nets, _ := b.FindNetworks(ctx, "c1"); len(nets) != 1 {
		t.Errorf("networks after a second allocation: %+v, want still one", nets)
	}
}

func TestRequirePrivateNetwork(t *testing.T) {
	e := emulator(t, "s1", 1)
	b := backend(t, e, func(c *metalstack.Config) { c.RequirePrivateNetwork = true })
	_, err := b.AllocateMachine(context.Background(), spec(t, "w1"))
	if !errors.Is(err, metal.ErrInvalid) || !errors.Is(err, metalstack.ErrNoPrivateNetwork) || !strings.Contains(err.Error(), "c1") {
		t.Fatalf("err = %v, want ErrInvalid wrapping ErrNoPrivateNetwork naming the cluster", err)
	}
	if got := e.Allocated(); len(got) != 0 {
		t.Errorf("machines allocated: %v", got)
	}
}

// Point 2: exhaustion is NoCapacity, "try again later" is retryable.
func TestExhaustionAndContention(t *testing.T) {
	e := emulator(t, "s1", 2)
	b := backend(t, e)
	ctx := context.Background()
	e.SetAllocationContention(1)
	_, err := b.AllocateMachine(ctx, spec(t, "w1"))
	if !metal.IsUnavailable(err) || !strings.Contains(err.Error(), "try again later") {
		t.Fatalf("allocation during contention: %v, want ErrUnavailable", err)
	}
	if _, err := b.AllocateMachine(ctx, spec(t, "w1")); err != nil {
		t.Fatalf("retry: %v", err)
	}
	// The super network 10.0.0.0/16 holds four /18.
	var nerr error
	for i := 0; i < 5 && nerr == nil; i++ {
		_, nerr = b.AllocateNetwork(ctx, metal.NetworkSpec{Name: "n", Cluster: "x" + string(rune('a'+i)), PrefixLength: 18})
	}
	if !metal.IsNoCapacity(nerr) {
		t.Fatalf("allocating past the super network: %v, want ErrNoCapacity", nerr)
	}
}

// Point 3: a network whose machine was just freed is freed once metal-api
// released the machine's IPs; one in use is a conflict.
func TestNetworkFreeAfterMachineFree(t *testing.T) {
	e := emulator(t, "s1", 1)
	b := backend(t, e)
	ctx := context.Background()
	m, err := b.AllocateMachine(ctx, spec(t, "w1"))
	if err != nil {
		t.Fatal(err)
	}
	nets, _ := b.FindNetworks(ctx, "c1")
	if len(nets) != 1 {
		t.Fatalf("networks %+v", nets)
	}
	if err := b.FreeNetwork(ctx, nets[0].ID); !metal.IsConflict(err) || !strings.Contains(err.Error(), m.ID) {
		t.Fatalf("free a network in use: %v, want ErrConflict naming machine %s", err, m.ID)
	}
	// Free the machine as another tool does (no waiting), then the network:
	// metal-api releases the IPs only after FreeNetwork was refused a while.
	e.SetReleaseDelay(time.Hour)
	time.AfterFunc(300*time.Millisecond, func() { e.SetReleaseDelay(0) })
	if _, err := metalGo(t, e).Machine().FreeMachine(machine.NewFreeMachineParams().WithID(m.ID), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.FreeNetwork(ctx, nets[0].ID); err != nil {
		t.Fatalf("free the network right after its machine: %v", err)
	}
	if nets, _ := b.FindNetworks(ctx, "c1"); len(nets) != 0 {
		t.Errorf("networks left: %+v", nets)
	}
}

// Point 4: power and free are asynchronous.
func TestPowerWaitsForTheReport(t *testing.T) {
	e := emulator(t, "s1", 1)
	b := backend(t, e)
	ctx := context.Background()
	m, err := b.AllocateMachine(ctx, spec(t, "w1"))
	if err != nil {
		t.Fatal(err)
	}
	e.SetPowerDelay(300 * time.Millisecond)
	if err := b.SetMachinePower(ctx, m.ID, false); err != nil {
		t.Fatal(err)
	}
	if got, err := b.GetMachine(ctx, m.ID); err != nil || got.PoweredOn {
		t.Fatalf("right after power off: %+v, %v; want reported off", got, err)
	}
	// A report that never comes is a timeout, not success.
	short := backend(t, e, func(c *metalstack.Config) { c.WaitTimeout = 50 * time.Millisecond })
	e.SetPowerDelay(time.Hour)
	if err := short.SetMachinePower(ctx, m.ID, true); !metal.IsUnavailable(err) || !strings.Contains(err.Error(), "power ON") {
		t.Fatalf("power on without a report: %v, want ErrUnavailable naming the state", err)
	}
}

func TestPowerOffAtAllocationLetsTheInstallationFinish(t *testing.T) {
	e := emulator(t, "s1", 1)
	e.SetInstallDelay(200 * time.Millisecond)
	e.SetPowerDelay(50 * time.Millisecond)
	b := backend(t, e)
	s := spec(t, "w1")
	s.PowerOff = true
	m, err := b.AllocateMachine(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Installed(m.ID) || e.Power(m.ID) != "OFF" || m.PoweredOn {
		t.Fatalf("machine %+v: installed %v, power %s; want installed, then off", m, e.Installed(m.ID), e.Power(m.ID))
	}
}

func TestFreeWaitsForReleaseAndReclaim(t *testing.T) {
	e := emulator(t, "s1", 1)
	e.SetReleaseDelay(200 * time.Millisecond)
	e.SetReclaimDelay(300 * time.Millisecond)
	b := backend(t, e)
	ctx := context.Background()
	m, err := b.AllocateMachine(ctx, spec(t, "w1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.FreeMachine(ctx, m.ID, metal.OwnerOf(m)); err != nil {
		t.Fatal(err)
	}
	for _, a := range e.IPs() {
		if slices.Contains(addresses(m, metal.AddressInternalIP), a) {
			t.Errorf("ip %s of the freed machine still allocated", a)
		}
	}
	if _, err := b.AllocateMachine(ctx, spec(t, "w2")); err != nil {
		t.Fatalf("allocate right after a free with one machine: %v", err)
	}
}

// Point 5: validation, system tags, image resolution, machine-scoped IPs.
func TestMachineAsMetalAPIReportsIt(t *testing.T) {
	e := emulator(t, "s1", 1)
	b := backend(t, e)
	ctx := context.Background()
	m, err := b.AllocateMachine(ctx, spec(t, "w1"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Image != "ubuntu-24.04.20250601" {
		t.Errorf("image %q, want the newest build metal-api resolved ubuntu-24.04 to", m.Image)
	}
	for _, k := range []string{metalstack.LabelASN, metalstack.LabelRack, metalstack.LabelChassis} {
		if _, ok := m.Tags[k]; ok {
			t.Errorf("system tag %s among the user tags %v", k, m.Tags)
		}
		if m.Labels[k] == "" {
			t.Errorf("system tag %s missing from the labels %v", k, m.Labels)
		}
	}
	if len(m.Tags) != 1 || m.Tags["role"] != "worker" {
		t.Errorf("user tags %v, want just role=worker", m.Tags)
	}
	internal := addresses(m, metal.AddressInternalIP)
	if err := b.FreeIP(ctx, internal[0]); !errors.Is(err, metal.ErrInvalid) || !strings.Contains(err.Error(), m.ID) {
		t.Errorf("free the machine's own ip: %v, want ErrInvalid naming the machine", err)
	}
	if !slices.Contains(e.IPs(), internal[0]) {
		t.Errorf("machine ip %s was freed", internal[0])
	}
}

func TestRefusedRequests(t *testing.T) {
	e := emulator(t, "s1", 1)
	tests := []struct {
		name string
		mod  func(*metal.MachineSpec)
		cfg  func(*metalstack.Config)
		kind error
		text string
	}{
		{name: "invalid ssh key", mod: func(s *metal.MachineSpec) { s.SSHKeys = []string{"ssh-ed25519 AAAA test"} }, kind: metal.ErrInvalid, text: "invalid public SSH key"},
		{name: "unknown image", mod: func(s *metal.MachineSpec) { s.Image = "debian-99.1" }, kind: metal.ErrInvalid, text: "no image for id:debian-99.1"},
		{name: "unknown size", mod: func(s *metal.MachineSpec) { s.Size = "xl" }, kind: metal.ErrInvalid, text: "size:xl not found"},
		{name: "unknown partition", mod: func(s *metal.MachineSpec) { s.Partition = "nowhere" }, kind: metal.ErrInvalid, text: "partition"},
		{name: "unknown network", mod: func(s *metal.MachineSpec) { s.Networks = []string{"nope"} }, kind: metal.ErrNotFound, text: "nope"},
		{name: "unknown project", cfg: func(c *metalstack.Config) { c.Project = "proj-x" }, kind: metal.ErrNotFound, text: "proj-x"},
		{name: "dns servers are checked", cfg: func(c *metalstack.Config) { c.DNSServers = []string{"dns.example.com"} }, kind: metal.ErrInvalid, text: "dns server not correct"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := metalstack.Config{URL: e.URL(), HMAC: hmacKey, HMACAuthType: authType, Project: projectID, Partition: partition, PollInterval: 5 * time.Millisecond}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			b, err := metalstack.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := spec(t, "w1")
			if tt.mod != nil {
				tt.mod(&s)
			}
			_, err = b.AllocateMachine(context.Background(), s)
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.kind, tt.text)
			}
			if got := e.Allocated(); len(got) != 0 {
				t.Errorf("machines allocated after a refusal: %v", got)
			}
		})
	}
	for name, cfg := range map[string]metalstack.Config{
		"four dns servers": {DNSServers: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}},
		"six ntp servers":  {NTPServers: []string{"a.example", "b.example", "c.example", "d.example", "e.example", "f.example"}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.URL, cfg.Token, cfg.Project = e.URL(), "emulator-token", projectID
			if _, err := metalstack.New(cfg); !errors.Is(err, metal.ErrInvalid) {
				t.Fatalf("New = %v, want ErrInvalid", err)
			}
		})
	}
}

// mcm-provider-metal allocates with only its network, the cluster tag among
// the provider spec's tags and the machine name as allocation name and
// hostname (pkg/provider/core.go, CreateMachine).
func allocateAsMCMProviderMetal(t *testing.T, e *metalapi.Emulator, cluster, name, network string) string {
	t.Helper()
	resp, err := metalGo(t, e).Machine().AllocateMachine(machine.NewAllocateMachineParams().WithBody(&models.V1MachineAllocateRequest{
		Description: name + " created by Gardener.", Name: name, Hostname: name, UserData: "e30=",
		Sizeid: new("s1"), Projectid: new(projectID), Partitionid: new(partition), Imageid: new("ubuntu-24.04"),
		Networks:   []*models.V1MachineAllocationNetwork{{Autoacquire: new(true), Networkid: new(network)}},
		Tags:       []string{metalstack.TagCluster + "=" + cluster, "kubernetes.io/cluster=" + cluster, "kubernetes.io/role=node"},
		SSHPubKeys: []string{sshKey(t)},
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return *resp.Payload.ID
}

func TestMachinesOfMCMProviderMetal(t *testing.T) {
	e := emulator(t, "s1", 2)
	b := backend(t, e)
	ctx := context.Background()
	n, err := b.AllocateNetwork(ctx, metal.NetworkSpec{Name: "nodes", Cluster: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	id := allocateAsMCMProviderMetal(t, e, "c1", "shoot--p--c1-worker-abc", n.ID)
	ms, err := b.ListMachines(ctx, "c1")
	if err != nil || len(ms) != 1 || ms[0].ID != id || ms[0].Name != "shoot--p--c1-worker-abc" {
		t.Fatalf("list = %+v, %v; want the machine mcm-provider-metal allocated", ms, err)
	}
	// MCM creating the same machine again finds it instead of allocating.
	m, err := b.AllocateMachine(ctx, spec(t, "shoot--p--c1-worker-abc"))
	if err != nil || m.ID != id {
		t.Fatalf("allocate the existing machine = %+v, %v; want %s", m, err, id)
	}
	if got := e.Allocated(); len(got) != 1 {
		t.Fatalf("allocated %v: a second server was claimed", got)
	}
	if err := b.FreeMachine(ctx, id, metal.OwnerOf(m)); err != nil {
		t.Fatal(err)
	}
	if got := e.Allocated(); len(got) != 0 {
		t.Fatalf("allocated after free: %v", got)
	}
	if err := b.FreeNetwork(ctx, n.ID); err != nil {
		t.Fatalf("free the network after the machine: %v", err)
	}
}
