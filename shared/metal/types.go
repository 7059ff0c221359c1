package metal

import (
	"context"
	"net/netip"
)

// MachineState is where a machine is in its life, as far as the backend knows.
type MachineState string

const (
	// MachinePending: requested, not yet bound to a server.
	MachinePending MachineState = "Pending"
	// MachineAllocated: bound to a server, which is not (yet) powered on.
	MachineAllocated MachineState = "Allocated"
	// MachineRunning: bound to a server that is powered on.
	MachineRunning MachineState = "Running"
	// MachineLost: the server it was bound to is gone or broken.
	MachineLost MachineState = "Lost"
)

// AddressType says how a machine address is reachable. The values are those of
// core/v1 NodeAddressType.
type AddressType string

// Address types.
const (
	AddressInternalIP  AddressType = "InternalIP"
	AddressExternalIP  AddressType = "ExternalIP"
	AddressHostname    AddressType = "Hostname"
	AddressInternalDNS AddressType = "InternalDNS"
)

// Address is one address of a machine.
type Address struct {
	Type    AddressType
	Address string
}

// MachineSpec is a request for a machine.
type MachineSpec struct {
	// Name identifies the request within its cluster; allocating the same name
	// again returns the machine allocated before (idempotency key).
	Name string
	// Cluster owns the machine; ListMachines(Cluster) finds it.
	Cluster string
	// Image is the OS image to boot.
	Image string
	// Size is the machine size / instance type; backends without sizes turn it
	// into a server selector.
	Size string
	// Partition is the failure domain (zone) to allocate in, if any.
	Partition string
	// Selector narrows the servers that may be chosen (server labels).
	Selector map[string]string
	// Hostname for the machine; defaults to Name.
	Hostname string
	// UserData is handed to the machine at boot (Ignition or cloud-init). It is
	// never logged.
	UserData []byte
	// Networks the machine is attached to, in addition to the backend's defaults.
	Networks []string
	// Tags are stored with the machine (labels on metal-operator, tags on metal-api).
	Tags map[string]string
	// SSHKeys authorised on the machine, where the backend injects them.
	SSHKeys []string
	// PowerOff allocates the machine without powering it on (a second step,
	// PowerOn, boots it).
	PowerOff bool
}

// Machine is a machine as the backend sees it.
type Machine struct {
	// ID is the backend's identifier, stable for the machine's life.
	ID string
	// Name is the MachineSpec.Name it was allocated for.
	Name    string
	Cluster string
	// ProviderID is the machine's Kubernetes provider ID (see package providerid).
	ProviderID string
	// Server is the backend server the machine is bound to, empty while pending.
	Server string
	// SystemUUID is the server's hardware UUID, as a kubelet reports it.
	SystemUUID string
	Hostname   string
	Image      string
	Size       string
	Partition  string
	Region     string
	State      MachineState
	// PoweredOn is the server's observed power state.
	PoweredOn bool
	Addresses []Address
	// Labels are the server's labels (hardware facts, topology).
	Labels map[string]string
	// Tags are those given at allocation.
	Tags map[string]string
}

// Owner is whom a machine belongs to: the cluster and the name it was
// allocated for (MachineSpec.Cluster and Name). Both are required.
type Owner struct {
	Cluster string
	Name    string
}

// OwnerOf returns the owner m was allocated for.
func OwnerOf(m *Machine) Owner { return Owner{Cluster: m.Cluster, Name: m.Name} }

// Validate returns ErrInvalid, naming the free's op and id, when o lacks a
// field: a free must say whom it expects.
func (o Owner) Validate(op, id string) error {
	if o.Cluster == "" || o.Name == "" {
		return Errorf(ErrInvalid, op, id, "owner needs a cluster and a name, got cluster %q, name %q", o.Cluster, o.Name)
	}
	return nil
}

// Check returns nil when m belongs to o, ErrInvalid when o lacks a field and
// ErrConflict naming both owners when m belongs to another.
func (o Owner) Check(op string, m *Machine) error {
	if err := o.Validate(op, m.ID); err != nil {
		return err
	}
	if m.Cluster != o.Cluster || m.Name != o.Name {
		return Errorf(ErrConflict, op, m.ID, "machine belongs to cluster %q, name %q, not to cluster %q, name %q; nothing freed", m.Cluster, m.Name, o.Cluster, o.Name)
	}
	return nil
}

// IPType says whether an IP is freed with its last user (ephemeral) or kept
// until freed explicitly (static).
type IPType string

// IP types.
const (
	IPEphemeral IPType = "ephemeral"
	IPStatic    IPType = "static"
)

// IPSpec is a request for an IP address.
type IPSpec struct {
	// Name identifies the request; allocating the same name again returns the
	// same IP.
	Name    string
	Cluster string
	// Network to allocate from (a pool on metal-operator, a network on metal-api).
	Network string
	Type    IPType
	// Address requests a specific address; empty lets the backend choose.
	Address netip.Addr
	// Family is 4 or 6 when Address is empty; 0 means the pool's default.
	Family int
	Tags   map[string]string
}

// IP is an allocated IP address.
type IP struct {
	// ID is the backend's identifier of the allocation.
	ID      string
	Name    string
	Cluster string
	Network string
	Address netip.Addr
	Type    IPType
	Tags    map[string]string
}

// IPQuery selects IPs: all set fields must match, Tags are all required.
type IPQuery struct {
	Cluster string
	Network string
	Address netip.Addr
	Tags    map[string]string
}

// NetworkSpec is a request for a cluster's private network.
type NetworkSpec struct {
	Name      string
	Cluster   string
	Partition string
	// PrefixLength of the network to allocate; 0 means the backend default.
	PrefixLength int
	Tags         map[string]string
}

// Network is an allocated network.
type Network struct {
	ID        string
	Name      string
	Cluster   string
	Partition string
	Prefixes  []netip.Prefix
	Tags      map[string]string
}

// MachineAllocator allocates and frees machines.
type MachineAllocator interface {
	// AllocateMachine requests a machine. It is idempotent on (Cluster, Name):
	// a second call returns the machine of the first and never claims a second
	// server. A machine may be returned Pending; GetMachine follows it.
	AllocateMachine(ctx context.Context, spec MachineSpec) (*Machine, error)
	// FreeMachine releases the machine and its server after checking that it
	// belongs to owner: backend IDs are reused (metal-stack's are server
	// UUIDs), so an ID alone may name another cluster's machine by now. A
	// machine of another owner is ErrConflict and nothing is freed. Freeing a
	// machine that does not exist is not an error.
	FreeMachine(ctx context.Context, id string, owner Owner) error
}

// MachineReader reads machines.
type MachineReader interface {
	// GetMachine returns the machine with the given ID, or ErrNotFound.
	GetMachine(ctx context.Context, id string) (*Machine, error)
	// FindMachine returns the machine allocated for (cluster, name), or ErrNotFound.
	FindMachine(ctx context.Context, cluster, name string) (*Machine, error)
	// ListMachines returns the machines of a cluster.
	ListMachines(ctx context.Context, cluster string) ([]Machine, error)
}

// MachinePower switches a machine's server on or off.
type MachinePower interface {
	SetMachinePower(ctx context.Context, id string, on bool) error
}

// Machines is the whole machine API.
type Machines interface {
	MachineAllocator
	MachineReader
	MachinePower
}

// IPs is the IP address API.
type IPs interface {
	// AllocateIP allocates an address; idempotent on (Cluster, Name). A
	// requested Address already held by another allocation is ErrConflict; one
	// outside every pool of the network is ErrInvalid.
	AllocateIP(ctx context.Context, spec IPSpec) (*IP, error)
	// FreeIP releases an allocation by ID; a missing one is not an error.
	FreeIP(ctx context.Context, id string) error
	// GetIP returns an allocation by ID, or ErrNotFound.
	GetIP(ctx context.Context, id string) (*IP, error)
	// FindIPs returns the allocations matching the query.
	FindIPs(ctx context.Context, q IPQuery) ([]IP, error)
	// SetIPTags replaces an allocation's tags.
	SetIPTags(ctx context.Context, id string, tags map[string]string) (*IP, error)
}

// IPTagUpdater changes an IP's tags from their current value: the backend
// reads the IP, calls update with a copy of its tags and writes what update
// returns, serialised with every other tag update of that IP through the
// same client. Backends whose API has no precondition on updates (metal-api)
// offer it so that read-modify-write cycles of one process do not lose each
// other's changes; consumers use it where a backend implements it.
type IPTagUpdater interface {
	UpdateIPTags(ctx context.Context, id string, update func(tags map[string]string) (map[string]string, error)) (*IP, error)
}

// Networks is the network API. Backends without one return ErrUnsupported.
type Networks interface {
	// AllocateNetwork allocates a private network; idempotent on (Cluster, Name).
	AllocateNetwork(ctx context.Context, spec NetworkSpec) (*Network, error)
	// FreeNetwork releases a network by ID; a missing one is not an error.
	FreeNetwork(ctx context.Context, id string) error
	// FindNetworks returns the networks of a cluster.
	FindNetworks(ctx context.Context, cluster string) ([]Network, error)
}

// Health reports whether the backend answers.
type Health interface {
	// Healthy returns nil when the backend answers, else an ErrUnavailable error.
	Healthy(ctx context.Context) error
}

// Client is everything a backend offers.
type Client interface {
	Machines
	IPs
	Networks
	Health
	// Backend names the backend ("ironcore", "memory", ...).
	Backend() string
}

// MatchTags reports whether have holds every key/value of want.
func MatchTags(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// TagServicePrefix + "<namespace>/<name>" is the tag key marking an IP as
// used by a Service of type LoadBalancer; its value is the cluster of the
// Service. Backends may store it in their own form (metal-stack: metal-ccm's
// cluster.metal-stack.io/id/namespace/service=<cluster>/<namespace>/<name>)
// and give it back in this one.
const TagServicePrefix = "lb.metalkube.io/service/"

// TagPurpose records what an IP is for; PurposeEgress marks a cluster's
// egress (SNAT) IPs, which are never handed to a Service.
const (
	TagPurpose    = "metalkube.io/purpose"
	PurposeEgress = "egress"
)

// ServiceTag returns the tag key marking an IP as used by the Service
// namespace/name.
func ServiceTag(namespace, name string) string { return TagServicePrefix + namespace + "/" + name }

// PartitionLister lists a backend's partitions (zones, failure domains):
// the values machines can be pinned to with MachineSpec.Partition. Backends
// that know their partitions implement it; consumers check for it.
type PartitionLister interface {
	// ListPartitions returns the partitions in lexical order.
	ListPartitions(ctx context.Context) ([]string, error)
}
