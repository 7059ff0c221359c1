package memory

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"sync"

	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/providerid"
)

var _ metal.Client = (*Backend)(nil)

// Server is a server the backend can hand out.
type Server struct {
	Name       string
	SystemUUID string
	Size       string
	Partition  string
	Region     string
	Labels     map[string]string
	// Addresses the server's machine gets.
	Addresses []metal.Address
}

// Pool is a network's address range for IPs.
type Pool struct {
	Network string
	Prefix  netip.Prefix
}

// Config is the backend's inventory.
type Config struct {
	// Scope is the provider ID scope (partition or namespace); default "memory".
	Scope   string
	Servers []Server
	Pools   []Pool
	// NetworkPrefix is carved into /24 (IPv4) cluster networks; default 10.128.0.0/16.
	NetworkPrefix netip.Prefix
}

// Backend is the memory backend. Safe for concurrent use.
type Backend struct {
	mu          sync.Mutex
	cfg         Config
	servers     map[string]*Server
	machines    map[string]*metal.Machine // by ID
	ips         map[string]*metal.IP      // by ID
	networks    map[string]*metal.Network // by ID
	nextNet     int
	unavailable bool
	calls       int
}

// New returns a backend with the given inventory.
func New(cfg Config) *Backend {
	if cfg.Scope == "" {
		cfg.Scope = "memory"
	}
	if !cfg.NetworkPrefix.IsValid() {
		cfg.NetworkPrefix = netip.MustParsePrefix("10.128.0.0/16")
	}
	b := &Backend{cfg: cfg, servers: map[string]*Server{}, machines: map[string]*metal.Machine{},
		ips: map[string]*metal.IP{}, networks: map[string]*metal.Network{}}
	for i := range cfg.Servers {
		s := cfg.Servers[i]
		b.servers[s.Name] = &s
	}
	return b
}

// Backend implements metal.Client.
func (b *Backend) Backend() string { return "memory" }

// SetUnavailable switches the simulated outage on or off.
func (b *Backend) SetUnavailable(down bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.unavailable = down
}

// Calls returns how many API calls the backend has answered or refused.
func (b *Backend) Calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

// enter locks the backend and counts the call; it fails while unavailable.
func (b *Backend) enter(op, obj string) error {
	b.mu.Lock()
	b.calls++
	if b.unavailable {
		b.mu.Unlock()
		return metal.Errorf(metal.ErrUnavailable, op, obj, "memory backend switched unavailable")
	}
	return nil
}

// Healthy implements metal.Health.
func (b *Backend) Healthy(context.Context) error {
	if err := b.enter("health", ""); err != nil {
		return err
	}
	b.mu.Unlock()
	return nil
}

func machineID(cluster, name string) string { return cluster + "." + name }

// AllocateMachine implements metal.MachineAllocator.
func (b *Backend) AllocateMachine(_ context.Context, spec metal.MachineSpec) (*metal.Machine, error) {
	const op = "allocate machine"
	if spec.Name == "" {
		return nil, metal.Errorf(metal.ErrInvalid, op, "", "name is empty")
	}
	if err := b.enter(op, spec.Name); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	id := machineID(spec.Cluster, spec.Name)
	if m, ok := b.machines[id]; ok {
		return cloneMachine(m), nil
	}
	srv := b.freeServer(spec)
	if srv == nil {
		return nil, metal.Errorf(metal.ErrNoCapacity, op, spec.Name, "no free server with size %q partition %q labels %v", spec.Size, spec.Partition, spec.Selector)
	}
	hostname := spec.Hostname
	if hostname == "" {
		hostname = spec.Name
	}
	m := &metal.Machine{
		ID: id, Name: spec.Name, Cluster: spec.Cluster,
		ProviderID: providerid.New(b.cfg.Scope, id).String(),
		Server:     srv.Name, SystemUUID: srv.SystemUUID, Hostname: hostname, Image: spec.Image,
		Size: srv.Size, Partition: srv.Partition, Region: srv.Region,
		State: metal.MachineRunning, PoweredOn: !spec.PowerOff,
		Addresses: append(slices.Clone(srv.Addresses), metal.Address{Type: metal.AddressHostname, Address: hostname}),
		Labels:    maps.Clone(srv.Labels), Tags: maps.Clone(spec.Tags),
	}
	if spec.PowerOff {
		m.State = metal.MachineAllocated
	}
	b.machines[id] = m
	return cloneMachine(m), nil
}

func (b *Backend) freeServer(spec metal.MachineSpec) *Server {
	used := map[string]bool{}
	for _, m := range b.machines {
		used[m.Server] = true
	}
	names := slices.Sorted(maps.Keys(b.servers))
	for _, n := range names {
		s := b.servers[n]
		if used[n] || (spec.Size != "" && s.Size != spec.Size) || (spec.Partition != "" && s.Partition != spec.Partition) || !metal.MatchTags(s.Labels, spec.Selector) {
			continue
		}
		return s
	}
	return nil
}

// FreeMachine implements metal.MachineAllocator.
func (b *Backend) FreeMachine(_ context.Context, id string, owner metal.Owner) error {
	const op = "free machine"
	if err := owner.Validate(op, id); err != nil {
		return err
	}
	if err := b.enter(op, id); err != nil {
		return err
	}
	defer b.mu.Unlock()
	m, ok := b.machines[id]
	if !ok {
		return nil
	}
	if err := owner.Check(op, m); err != nil {
		return err
	}
	delete(b.machines, id)
	return nil
}

// GetMachine implements metal.MachineReader.
func (b *Backend) GetMachine(_ context.Context, id string) (*metal.Machine, error) {
	if err := b.enter("get machine", id); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	m, ok := b.machines[id]
	if !ok {
		return nil, metal.Errorf(metal.ErrNotFound, "get machine", id, "")
	}
	return cloneMachine(m), nil
}

// FindMachine implements metal.MachineReader.
func (b *Backend) FindMachine(ctx context.Context, cluster, name string) (*metal.Machine, error) {
	return b.GetMachine(ctx, machineID(cluster, name))
}

// ListMachines implements metal.MachineReader.
func (b *Backend) ListMachines(_ context.Context, cluster string) ([]metal.Machine, error) {
	if err := b.enter("list machines", cluster); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	var out []metal.Machine
	for _, id := range slices.Sorted(maps.Keys(b.machines)) {
		if m := b.machines[id]; m.Cluster == cluster {
			out = append(out, *cloneMachine(m))
		}
	}
	return out, nil
}

// SetMachinePower implements metal.MachinePower.
func (b *Backend) SetMachinePower(_ context.Context, id string, on bool) error {
	if err := b.enter("set machine power", id); err != nil {
		return err
	}
	defer b.mu.Unlock()
	m, ok := b.machines[id]
	if !ok {
		return metal.Errorf(metal.ErrNotFound, "set machine power", id, "")
	}
	m.PoweredOn = on
	m.State = metal.MachineAllocated
	if on {
		m.State = metal.MachineRunning
	}
	return nil
}

// LoseServer marks the server of a machine lost, as a broken server would be.
func (b *Backend) LoseServer(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m, ok := b.machines[id]; ok {
		m.State, m.PoweredOn = metal.MachineLost, false
	}
}

func cloneMachine(m *metal.Machine) *metal.Machine {
	c := *m
	c.Addresses = slices.Clone(m.Addresses)
	c.Labels = maps.Clone(m.Labels)
	c.Tags = maps.Clone(m.Tags)
	return &c
}

func ipID(cluster, name string) string { return cluster + "." + name }

// AllocateIP implements metal.IPs.
func (b *Backend) AllocateIP(_ context.Context, spec metal.IPSpec) (*metal.IP, error) {
	const op = "allocate ip"
	if spec.Name == "" {
		return nil, metal.Errorf(metal.ErrInvalid, op, "", "name is empty")
	}
	if err := b.enter(op, spec.Name); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	id := ipID(spec.Cluster, spec.Name)
	if ip, ok := b.ips[id]; ok {
		if spec.Address.IsValid() && ip.Address != spec.Address {
			return nil, metal.Errorf(metal.ErrConflict, op, spec.Name, "already allocated with address %s, not %s", ip.Address, spec.Address)
		}
		return cloneIP(ip), nil
	}
	pools := b.pools(spec.Network)
	if len(pools) == 0 {
		return nil, metal.Errorf(metal.ErrInvalid, op, spec.Name, "network %q has no IP pool", spec.Network)
	}
	used := map[netip.Addr]bool{}
	for _, ip := range b.ips {
		used[ip.Address] = true
	}
	var addr netip.Addr
	if spec.Address.IsValid() {
		if !slices.ContainsFunc(pools, func(p Pool) bool { return p.Prefix.Contains(spec.Address) }) {
			return nil, metal.Errorf(metal.ErrInvalid, op, spec.Name, "address %s is outside network %q", spec.Address, spec.Network)
		}
		if used[spec.Address] {
			return nil, metal.Errorf(metal.ErrConflict, op, spec.Name, "address %s is already allocated", spec.Address)
		}
		addr = spec.Address
	} else {
		addr = freeAddr(pools, spec.Family, used)
		if !addr.IsValid() {
			return nil, metal.Errorf(metal.ErrNoCapacity, op, spec.Name, "network %q has no free address", spec.Network)
		}
	}
	typ := spec.Type
	if typ == "" {
		typ = metal.IPEphemeral
	}
	ip := &metal.IP{ID: id, Name: spec.Name, Cluster: spec.Cluster, Network: spec.Network, Address: addr, Type: typ, Tags: maps.Clone(spec.Tags)}
	b.ips[id] = ip
	return cloneIP(ip), nil
}

func (b *Backend) pools(network string) []Pool {
	var out []Pool
	for _, p := range b.cfg.Pools {
		if p.Network == network {
			out = append(out, p)
		}
	}
	return out
}

// freeAddr returns the first free host address of the pools of the family.
func freeAddr(pools []Pool, family int, used map[netip.Addr]bool) netip.Addr {
	for _, p := range pools {
		if (family == 4 && !p.Prefix.Addr().Is4()) || (family == 6 && !p.Prefix.Addr().Is6()) {
			continue
		}
		for a := p.Prefix.Masked().Addr().Next(); p.Prefix.Contains(a); a = a.Next() {
			if !used[a] && !(a.Is4() && !p.Prefix.Contains(a.Next())) { // skip the broadcast address
				return a
			}
		}
	}
	return netip.Addr{}
}

// FreeIP implements metal.IPs.
func (b *Backend) FreeIP(_ context.Context, id string) error {
	if err := b.enter("free ip", id); err != nil {
		return err
	}
	defer b.mu.Unlock()
	delete(b.ips, id)
	return nil
}

// GetIP implements metal.IPs.
func (b *Backend) GetIP(_ context.Context, id string) (*metal.IP, error) {
	if err := b.enter("get ip", id); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	ip, ok := b.ips[id]
	if !ok {
		return nil, metal.Errorf(metal.ErrNotFound, "get ip", id, "")
	}
	return cloneIP(ip), nil
}

// FindIPs implements metal.IPs.
func (b *Backend) FindIPs(_ context.Context, q metal.IPQuery) ([]metal.IP, error) {
	if err := b.enter("find ips", q.Cluster); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	var out []metal.IP
	for _, id := range slices.Sorted(maps.Keys(b.ips)) {
		ip := b.ips[id]
		if (q.Cluster != "" && ip.Cluster != q.Cluster) || (q.Network != "" && ip.Network != q.Network) ||
			(q.Address.IsValid() && ip.Address != q.Address) || !metal.MatchTags(ip.Tags, q.Tags) {
			continue
		}
		out = append(out, *cloneIP(ip))
	}
	return out, nil
}

// SetIPTags implements metal.IPs.
func (b *Backend) SetIPTags(_ context.Context, id string, tags map[string]string) (*metal.IP, error) {
	if err := b.enter("set ip tags", id); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	ip, ok := b.ips[id]
	if !ok {
		return nil, metal.Errorf(metal.ErrNotFound, "set ip tags", id, "")
	}
	ip.Tags = maps.Clone(tags)
	return cloneIP(ip), nil
}

func cloneIP(ip *metal.IP) *metal.IP {
	c := *ip
	c.Tags = maps.Clone(ip.Tags)
	return &c
}

// AllocateNetwork implements metal.Networks: /24s carved from NetworkPrefix.
func (b *Backend) AllocateNetwork(_ context.Context, spec metal.NetworkSpec) (*metal.Network, error) {
	const op = "allocate network"
	if spec.Name == "" {
		return nil, metal.Errorf(metal.ErrInvalid, op, "", "name is empty")
	}
	if err := b.enter(op, spec.Name); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	id := ipID(spec.Cluster, spec.Name)
	if n, ok := b.networks[id]; ok {
		return cloneNetwork(n), nil
	}
	bits := spec.PrefixLength
	if bits == 0 {
		bits = 24
	}
	base := b.cfg.NetworkPrefix
	if bits < base.Bits() || bits > 30 {
		return nil, metal.Errorf(metal.ErrInvalid, op, spec.Name, "prefix length %d outside /%d../30", bits, base.Bits())
	}
	n := b.nextNet
	max := 1 << (bits - base.Bits())
	if n >= max {
		return nil, metal.Errorf(metal.ErrNoCapacity, op, spec.Name, "no free /%d left in %s", bits, base)
	}
	b.nextNet++
	addr := base.Masked().Addr().As4()
	v := uint32(addr[0])<<24 | uint32(addr[1])<<16 | uint32(addr[2])<<8 | uint32(addr[3])
	v += uint32(n) << (32 - bits)
	p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits)
	nw := &metal.Network{ID: id, Name: spec.Name, Cluster: spec.Cluster, Partition: spec.Partition, Prefixes: []netip.Prefix{p}, Tags: maps.Clone(spec.Tags)}
	b.networks[id] = nw
	return cloneNetwork(nw), nil
}

// FreeNetwork implements metal.Networks.
func (b *Backend) FreeNetwork(_ context.Context, id string) error {
	if err := b.enter("free network", id); err != nil {
		return err
	}
	defer b.mu.Unlock()
	delete(b.networks, id)
	return nil
}

// FindNetworks implements metal.Networks.
func (b *Backend) FindNetworks(_ context.Context, cluster string) ([]metal.Network, error) {
	if err := b.enter("find networks", cluster); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	var out []metal.Network
	for _, id := range slices.Sorted(maps.Keys(b.networks)) {
		if n := b.networks[id]; n.Cluster == cluster {
			out = append(out, *cloneNetwork(n))
		}
	}
	return out, nil
}

func cloneNetwork(n *metal.Network) *metal.Network {
	c := *n
	c.Prefixes = slices.Clone(n.Prefixes)
	c.Tags = maps.Clone(n.Tags)
	return &c
}

// Fleet returns n servers named server-000.., with size "c1-large", spread over
// partitions "zone-a" and "zone-b" of region "region-1", each with an internal
// IPv4 address from 10.0.0.0/16 — an inventory for tests.
func Fleet(n int) []Server {
	out := make([]Server, n)
	for i := range out {
		zone := []string{"zone-a", "zone-b"}[i%2]
		out[i] = Server{
			Name: fmt.Sprintf("server-%03d", i), SystemUUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
			Size: "c1-large", Partition: zone, Region: "region-1",
			Labels:    map[string]string{"topology.kubernetes.io/zone": zone, "metal.metalkube.io/size": "c1-large", "rack": "r" + strconv.Itoa(i%4)},
			Addresses: []metal.Address{{Type: metal.AddressInternalIP, Address: netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(i%250 + 1)}).String()}},
		}
	}
	return out
}

var _ metal.PartitionLister = (*Backend)(nil)

// ListPartitions implements metal.PartitionLister: the partitions of the
// inventory's servers.
func (b *Backend) ListPartitions(context.Context) ([]string, error) {
	if err := b.enter("list partitions", ""); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	seen := map[string]bool{}
	for _, s := range b.servers {
		if s.Partition != "" {
			seen[s.Partition] = true
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}
