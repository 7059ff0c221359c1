package metalstack

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"github.com/metal-stack/metal-go/api/client/ip"
	"github.com/metal-stack/metal-go/api/client/machine"
	"github.com/metal-stack/metal-go/api/client/network"
	"github.com/metal-stack/metal-go/api/models"

	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/providerid"
)

// Machine roles on metal-api.
const (
	roleMachine  = "machine"
	roleFirewall = "firewall"
)

// machineView is what the backend reads from metal-api's machine, firewall
// and IPMI responses, which share these fields.
type machineView struct {
	id, liveliness, rack, partition, size string
	alloc                                 *models.V1MachineAllocation
	tags                                  []string
	power                                 *string
	// lastEvent is the newest provisioning event ("Waiting" once a freed
	// machine is reclaimed).
	lastEvent string
}

func viewIPMI(m *models.V1MachineIPMIResponse) machineView {
	v := machineView{id: deref(m.ID), liveliness: deref(m.Liveliness), rack: m.Rackid, alloc: m.Allocation, tags: m.Tags}
	if m.Events != nil && len(m.Events.Log) > 0 && m.Events.Log[0] != nil {
		v.lastEvent = deref(m.Events.Log[0].Event)
	}
	if m.Partition != nil {
		v.partition = deref(m.Partition.ID)
	}
	if m.Size != nil {
		v.size = deref(m.Size.ID)
	}
	if m.Ipmi != nil && m.Ipmi.Powerstate != nil {
		v.power = m.Ipmi.Powerstate
	}
	return v
}

func viewMachine(m *models.V1MachineResponse) machineView {
	return viewIPMI(&models.V1MachineIPMIResponse{ID: m.ID, Liveliness: m.Liveliness, Rackid: m.Rackid, Allocation: m.Allocation,
		Tags: m.Tags, Partition: m.Partition, Size: m.Size, Events: m.Events})
}

func viewFirewall(m *models.V1FirewallResponse) machineView {
	return viewIPMI(&models.V1MachineIPMIResponse{ID: m.ID, Liveliness: m.Liveliness, Rackid: m.Rackid, Allocation: m.Allocation,
		Tags: m.Tags, Partition: m.Partition, Size: m.Size, Events: m.Events})
}

// ours reports whether the machine is allocated in the backend's project.
func (b *Backend) ours(v machineView) bool {
	return v.alloc != nil && deref(v.alloc.Project) == b.cfg.Project
}

// toMachine converts a machine allocated in the project.
func (b *Backend) toMachine(v machineView) *metal.Machine {
	tags := tagMap(v.tags)
	a := v.alloc
	succeeded := deref(a.Succeeded)
	m := &metal.Machine{
		ID: v.id, Name: tags[TagMachineName], Cluster: tags[TagCluster],
		ProviderID: providerid.New(v.partition, v.id).String(),
		Server:     v.id, SystemUUID: v.id, Hostname: deref(a.Hostname),
		Size: v.size, Partition: v.partition, Region: b.cfg.Region,
		Labels: map[string]string{LabelSize: v.size, LabelPartition: v.partition},
		Tags:   userTags(tags),
	}
	if m.Name == "" {
		m.Name = deref(a.Name)
	}
	if v.rack != "" {
		m.Labels[LabelRack] = v.rack
	}
	for _, k := range system {
		if val, ok := tags[k]; ok && val != "" {
			m.Labels[k] = val
		}
	}
	if a.Image != nil {
		m.Image = deref(a.Image.ID)
	}
	if v.power != nil {
		m.PoweredOn = *v.power == "ON"
	} else {
		m.PoweredOn = succeeded && v.liveliness == "Alive"
	}
	switch {
	case v.liveliness == "Dead":
		m.State = metal.MachineLost
	case succeeded && m.PoweredOn:
		m.State = metal.MachineRunning
	default:
		m.State = metal.MachineAllocated
	}
	for _, n := range a.Networks {
		if n == nil || deref(n.Underlay) {
			continue
		}
		typ := metal.AddressExternalIP
		if deref(n.Private) {
			typ = metal.AddressInternalIP
		}
		for _, ip := range n.Ips {
			m.Addresses = append(m.Addresses, metal.Address{Type: typ, Address: ip})
		}
	}
	if m.Hostname != "" {
		m.Addresses = append(m.Addresses, metal.Address{Type: metal.AddressHostname, Address: m.Hostname})
	}
	return m
}

// AllocateMachine implements metal.MachineAllocator. It looks for a machine
// of (Cluster, Name) first and allocates only if there is none.
func (b *Backend) AllocateMachine(ctx context.Context, spec metal.MachineSpec) (*metal.Machine, error) {
	const op = "allocate machine"
	partition, err := b.checkSpec(op, spec)
	if err != nil {
		return nil, err
	}
	defer b.locks.lock(spec.Cluster + "/" + spec.Name)()
	if m, err := b.FindMachine(ctx, spec.Cluster, spec.Name); err == nil || !metal.IsNotFound(err) {
		return m, err
	}
	networks, err := b.allocationNetworks(ctx, op, spec.Cluster, partition, spec.Networks)
	if err != nil {
		return nil, err
	}
	req := &models.V1MachineAllocateRequest{
		Name: spec.Name, Hostname: hostname(spec), Description: "metalkube machine " + spec.Name + " of cluster " + spec.Cluster,
		Projectid: new(b.cfg.Project), Partitionid: new(partition), Sizeid: new(spec.Size), Imageid: new(spec.Image),
		Networks: networks, SSHPubKeys: orEmpty(spec.SSHKeys), Tags: b.machineTags(spec),
		DNSServers: b.dnsServers(), NtpServers: b.ntpServers(), Ips: []string{}, PlacementTags: []string{TagCluster + "=" + spec.Cluster},
	}
	if len(spec.UserData) > 0 {
		req.UserData = base64.StdEncoding.EncodeToString(spec.UserData)
	}
	resp, err := b.c.Machine().AllocateMachine(machine.NewAllocateMachineParams().WithContext(ctx).WithBody(req), nil)
	if err != nil {
		return nil, b.capacity(op, spec.Name, spec.Size, partition, b.wrap(op, spec.Name, err))
	}
	m := b.toMachine(viewMachine(resp.Payload))
	if spec.PowerOff {
		// metal-api installs and boots what it allocates; switching it off
		// before the installation succeeded would interrupt it. Wait for
		// it, then power off and wait for metal-bmc to report it.
		var installed *metal.Machine
		err := b.poll(ctx, op, spec.Name, "the installation of machine "+m.ID, func() (bool, error) {
			v, err := b.view(ctx, op, m.ID)
			if err != nil || !b.ours(v) {
				return false, err
			}
			if v.liveliness == "Dead" {
				return false, metal.Errorf(metal.ErrUnavailable, op, spec.Name, "machine %s died while installing", m.ID)
			}
			if deref(v.alloc.Succeeded) {
				installed = b.toMachine(v)
			}
			return installed != nil, nil
		})
		if err != nil {
			return m, fmt.Errorf("machine %s allocated, powering it off: %w", m.ID, err)
		}
		if err := b.setPower(ctx, op, m.ID, false); err != nil {
			return installed, fmt.Errorf("machine %s allocated, powering it off: %w", m.ID, err)
		}
		installed.PoweredOn, installed.State = false, metal.MachineAllocated
		return installed, nil
	}
	return m, nil
}

// view reads a machine through the IPMI endpoint, which carries the power
// state metal-bmc reports.
func (b *Backend) view(ctx context.Context, op, id string) (machineView, error) {
	resp, err := b.c.Machine().FindIPMIMachine(machine.NewFindIPMIMachineParams().WithContext(ctx).WithID(id), nil)
	if err != nil {
		return machineView{}, b.wrap(op, id, err)
	}
	return viewIPMI(resp.Payload), nil
}

// checkSpec validates a machine spec and returns its partition.
func (b *Backend) checkSpec(op string, spec metal.MachineSpec) (string, error) {
	partition := spec.Partition
	if partition == "" {
		partition = b.cfg.Partition
	}
	switch {
	case spec.Name == "":
		return "", metal.Errorf(metal.ErrInvalid, op, "", "name is empty")
	case spec.Cluster == "":
		return "", metal.Errorf(metal.ErrInvalid, op, spec.Name, "cluster is empty")
	case spec.Size == "":
		return "", metal.Errorf(metal.ErrInvalid, op, spec.Name, "size is empty: metal-api allocates by size")
	case spec.Image == "":
		return "", metal.Errorf(metal.ErrInvalid, op, spec.Name, "image is empty")
	case partition == "":
		return "", metal.Errorf(metal.ErrInvalid, op, spec.Name, "no partition given and no default partition configured")
	case len(spec.Selector) > 0:
		return "", metal.Errorf(metal.ErrInvalid, op, spec.Name, "metal-api chooses machines by size and partition, not by labels %v", spec.Selector)
	}
	return partition, nil
}

// capacity names what was asked for in a no-capacity error.
func (b *Backend) capacity(op, name, size, partition string, err error) error {
	if metal.IsNoCapacity(err) {
		return metal.Wrap(metal.ErrNoCapacity, op, name, fmt.Errorf("no free machine of size %s in partition %s for project %s: %v", size, partition, b.cfg.Project, err))
	}
	return err
}

func hostname(spec metal.MachineSpec) string {
	if spec.Hostname != "" {
		return spec.Hostname
	}
	return spec.Name
}

func (b *Backend) machineTags(spec metal.MachineSpec) []string {
	return tagList(spec.Tags, spec.Cluster, TagCluster+"="+spec.Cluster, TagMachineName+"="+spec.Name)
}

func (b *Backend) dnsServers() []*models.V1DNSServer {
	out := []*models.V1DNSServer{}
	for _, s := range b.cfg.DNSServers {
		out = append(out, &models.V1DNSServer{IP: new(s)})
	}
	return out
}

func (b *Backend) ntpServers() []*models.V1NTPServer {
	out := []*models.V1NTPServer{}
	for _, s := range b.cfg.NTPServers {
		out = append(out, &models.V1NTPServer{Address: new(s)})
	}
	return out
}

// allocationNetworks returns the networks of a new machine: the cluster's
// private network in the partition (the oldest, if several), then the
// configured and the requested networks, each with auto-acquire. metal-api
// allocates no machine without exactly one private network of the project
// in the partition (gatherNetworksFromSpec: "no private network given"), so
// a cluster without one gets one (DefaultPrivateNetworkName), unless
// RequirePrivateNetwork is set.
func (b *Backend) allocationNetworks(ctx context.Context, op, cluster, partition string, requested []string) ([]*models.V1MachineAllocationNetwork, error) {
	private, err := b.privateNetwork(ctx, op, cluster, partition)
	if err != nil {
		return nil, err
	}
	ids := []string{private}
	for _, id := range append(slices.Clone(b.cfg.Networks), requested...) {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	out := make([]*models.V1MachineAllocationNetwork, len(ids))
	for i, id := range ids {
		out[i] = &models.V1MachineAllocationNetwork{Networkid: new(id), Autoacquire: new(true)}
	}
	return out, nil
}

// privateNetwork returns the ID of the cluster's private network in the
// partition, allocating one if there is none and that is allowed.
func (b *Backend) privateNetwork(ctx context.Context, op, cluster, partition string) (string, error) {
	defer b.locks.lock("private-network/" + cluster + "/" + partition)()
	find := func() ([]*models.V1NetworkResponse, error) {
		resp, err := b.c.Network().FindNetworks(network.NewFindNetworksParams().WithContext(ctx).WithBody(&models.V1NetworkFindRequest{
			Projectid: b.cfg.Project, Partitionid: partition, Labels: map[string]string{TagCluster: cluster}}), nil)
		if err != nil {
			return nil, b.wrap(op, "networks of cluster "+cluster, err)
		}
		private := slices.DeleteFunc(resp.Payload, func(n *models.V1NetworkResponse) bool {
			return n.Projectid != b.cfg.Project || n.Partitionid != partition || n.Parentnetworkid == "" || n.Labels[TagCluster] != cluster
		})
		slices.SortFunc(private, func(x, y *models.V1NetworkResponse) int { return time.Time(x.Created).Compare(time.Time(y.Created)) })
		return private, nil
	}
	private, err := find()
	if err != nil {
		return "", err
	}
	if len(private) > 0 {
		return deref(private[0].ID), nil
	}
	if b.cfg.RequirePrivateNetwork {
		return "", metal.Wrap(metal.ErrInvalid, op, "cluster "+cluster, fmt.Errorf("%w: no network labelled %s=%s in project %s, partition %s; allocate one before machines",
			ErrNoPrivateNetwork, TagCluster, cluster, b.cfg.Project, partition))
	}
	n, err := b.AllocateNetwork(ctx, metal.NetworkSpec{Name: DefaultPrivateNetworkName, Cluster: cluster, Partition: partition})
	if err != nil {
		return "", metal.Wrap(kindOf(err), op, "cluster "+cluster, fmt.Errorf("%w; allocating one: %w", ErrNoPrivateNetwork, err))
	}
	return n.ID, nil
}

// GetMachine implements metal.MachineReader. A machine that is not
// allocated in the project is not found.
func (b *Backend) GetMachine(ctx context.Context, id string) (*metal.Machine, error) {
	const op = "get machine"
	v, err := b.view(ctx, op, id)
	if err != nil {
		return nil, err
	}
	if !b.ours(v) {
		return nil, metal.Errorf(metal.ErrNotFound, op, id, "machine is not allocated in project %s", b.cfg.Project)
	}
	return b.toMachine(v), nil
}

// findMachines returns the project's machines of role with all tags, oldest
// allocation first.
func (b *Backend) findMachines(ctx context.Context, op, obj, role string, tags ...string) ([]metal.Machine, error) {
	resp, err := b.c.Machine().FindIPMIMachines(machine.NewFindIPMIMachinesParams().WithContext(ctx).WithBody(&models.V1MachineFindRequest{
		AllocationProject: b.cfg.Project, AllocationRole: role, Tags: tags}), nil)
	if err != nil {
		return nil, b.wrap(op, obj, err)
	}
	var views []machineView
	for _, m := range resp.Payload {
		if v := viewIPMI(m); b.ours(v) && deref(v.alloc.Role) == role {
			views = append(views, v)
		}
	}
	slices.SortStableFunc(views, func(x, y machineView) int { return created(x).Compare(created(y)) })
	out := make([]metal.Machine, len(views))
	for i, v := range views {
		out[i] = *b.toMachine(v)
	}
	return out, nil
}

func created(v machineView) time.Time {
	if v.alloc.Created == nil {
		return time.Time{}
	}
	return time.Time(*v.alloc.Created)
}

// FindMachine implements metal.MachineReader. A machine allocated by
// metalkube carries the name as a tag; one allocated by
// mcm-provider-metal carries only the cluster tag and the name as its
// allocation name, and is found by that.
func (b *Backend) FindMachine(ctx context.Context, cluster, name string) (*metal.Machine, error) {
	const op = "find machine"
	ms, err := b.findMachines(ctx, op, cluster+"/"+name, roleMachine, TagCluster+"="+cluster, TagMachineName+"="+name)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		resp, err := b.c.Machine().FindIPMIMachines(machine.NewFindIPMIMachinesParams().WithContext(ctx).WithBody(&models.V1MachineFindRequest{
			AllocationProject: b.cfg.Project, AllocationRole: roleMachine, AllocationName: name, Tags: []string{TagCluster + "=" + cluster}}), nil)
		if err != nil {
			return nil, b.wrap(op, cluster+"/"+name, err)
		}
		for _, r := range resp.Payload {
			v := viewIPMI(r)
			if _, tagged := tagMap(v.tags)[TagMachineName]; b.ours(v) && !tagged && deref(v.alloc.Name) == name && deref(v.alloc.Role) == roleMachine {
				ms = append(ms, *b.toMachine(v))
			}
		}
	}
	if len(ms) == 0 {
		return nil, metal.Errorf(metal.ErrNotFound, op, cluster+"/"+name, "no machine with tags %s=%s, %s=%s (or allocation name %s) in project %s", TagCluster, cluster, TagMachineName, name, name, b.cfg.Project)
	}
	return &ms[0], nil
}

// ListMachines implements metal.MachineReader.
func (b *Backend) ListMachines(ctx context.Context, cluster string) ([]metal.Machine, error) {
	return b.findMachines(ctx, "list machines", cluster, roleMachine, TagCluster+"="+cluster)
}

// FreeMachine implements metal.MachineAllocator. Only a machine allocated
// in the project to owner (cluster tag, machine-name tag or allocation
// name) is freed. metal-api frees the allocation at once but
// releases the machine's IPs asynchronously, and the machine is wiped
// before it can be allocated again; FreeMachine waits (WaitTimeout) until
// both are reported done, so that the network and the capacity are free
// when it returns.
func (b *Backend) FreeMachine(ctx context.Context, id string, owner metal.Owner) error {
	const op = "free machine"
	if err := owner.Validate(op, id); err != nil {
		return err
	}
	m, err := b.GetMachine(ctx, id)
	if err != nil {
		if metal.IsNotFound(err) {
			return nil
		}
		return err
	}
	// metal-api has no precondition on a free: the read above is the check.
	if err := owner.Check(op, m); err != nil {
		return err
	}
	if _, err := b.c.Machine().FreeMachine(machine.NewFreeMachineParams().WithContext(ctx).WithID(id), nil); err != nil {
		if err := b.wrap(op, id, err); !metal.IsNotFound(err) {
			return err
		}
		return nil
	}
	return b.waitFreed(ctx, op, m.ID)
}

// waitFreed waits until a freed machine's IPs are released and metal-hammer
// reports it waiting again (or it is allocated anew, or dead).
func (b *Backend) waitFreed(ctx context.Context, op, id string) error {
	return b.poll(ctx, op, id, "machine "+id+" released and reclaimed", func() (bool, error) {
		ips, err := b.c.IP().FindIPs(ip.NewFindIPsParams().WithContext(ctx).WithBody(&models.V1IPFindRequest{
			Projectid: b.cfg.Project, Tags: []string{TagMachineID + "=" + id}}), nil)
		if err != nil {
			return false, b.wrap(op, id, err)
		}
		if len(ips.Payload) > 0 {
			return false, nil
		}
		v, err := b.view(ctx, op, id)
		if err != nil {
			return metal.IsNotFound(err), nil
		}
		return v.alloc != nil || v.liveliness == "Dead" || v.lastEvent == "Waiting", nil
	})
}

// SetMachinePower implements metal.MachinePower through metal-api's power
// endpoints. metal-api passes the command to metal-bmc and answers at once;
// SetMachinePower waits (WaitTimeout) until metal-bmc reports the new power
// state.
func (b *Backend) SetMachinePower(ctx context.Context, id string, on bool) error {
	op := "power off machine"
	if on {
		op = "power on machine"
	}
	if _, err := b.GetMachine(ctx, id); err != nil {
		return err
	}
	return b.setPower(ctx, op, id, on)
}

func (b *Backend) setPower(ctx context.Context, op, id string, on bool) error {
	var err error
	want := "OFF"
	if on {
		want = "ON"
		_, err = b.c.Machine().MachineOn(machine.NewMachineOnParams().WithContext(ctx).WithID(id).WithBody(struct{}{}), nil)
	} else {
		_, err = b.c.Machine().MachineOff(machine.NewMachineOffParams().WithContext(ctx).WithID(id).WithBody(struct{}{}), nil)
	}
	if err != nil {
		return b.wrap(op, id, err)
	}
	return b.poll(ctx, op, id, "power "+want, func() (bool, error) {
		v, err := b.view(ctx, op, id)
		if err != nil {
			return false, err
		}
		return v.power != nil && *v.power == want, nil
	})
}
