package metalstack

import (
	"context"
	"encoding/base64"

	"github.com/metal-stack/metal-go/api/client/firewall"
	"github.com/metal-stack/metal-go/api/models"

	"github.com/metalkube/metalkube/shared/metal"
)

// Firewalls allocates and finds a cluster's firewalls: machines metal-api
// allocates with the firewall role, in front of the cluster's private
// network. It is metal-stack specific and not part of metal.Client; a
// consumer that needs it asserts it on the client:
//
//	fw, ok := client.(metalstack.Firewalls)
type Firewalls interface {
	// AllocateFirewall allocates a firewall; idempotent on (Cluster, Name)
	// like AllocateMachine. The spec's Networks are the firewall's external
	// networks; the cluster's private network is attached first.
	AllocateFirewall(ctx context.Context, spec metal.MachineSpec) (*metal.Machine, error)
	// FindFirewalls returns the firewalls of a cluster.
	FindFirewalls(ctx context.Context, cluster string) ([]metal.Machine, error)
	// FreeFirewall releases a firewall of owner; a missing one is not an
	// error, one of another owner is metal.ErrConflict.
	FreeFirewall(ctx context.Context, id string, owner metal.Owner) error
}

// AllocateFirewall implements Firewalls.
func (b *Backend) AllocateFirewall(ctx context.Context, spec metal.MachineSpec) (*metal.Machine, error) {
	const op = "allocate firewall"
	partition, err := b.checkSpec(op, spec)
	if err != nil {
		return nil, err
	}
	defer b.locks.lock(spec.Cluster + "/" + spec.Name)()
	tags := []string{TagCluster + "=" + spec.Cluster, TagMachineName + "=" + spec.Name}
	existing, err := b.findMachines(ctx, op, spec.Name, roleFirewall, tags...)
	if err != nil || len(existing) > 0 {
		if err != nil {
			return nil, err
		}
		return &existing[0], nil
	}
	networks, err := b.allocationNetworks(ctx, op, spec.Cluster, partition, spec.Networks)
	if err != nil {
		return nil, err
	}
	req := &models.V1FirewallCreateRequest{
		Name: spec.Name, Hostname: hostname(spec), Description: "metalkube firewall " + spec.Name + " of cluster " + spec.Cluster,
		Projectid: new(b.cfg.Project), Partitionid: new(partition), Sizeid: new(spec.Size), Imageid: new(spec.Image),
		Networks: networks, SSHPubKeys: orEmpty(spec.SSHKeys), Tags: b.machineTags(spec),
		DNSServers: b.dnsServers(), NtpServers: b.ntpServers(), Ips: []string{},
	}
	if len(spec.UserData) > 0 {
		req.UserData = base64.StdEncoding.EncodeToString(spec.UserData)
	}
	resp, err := b.c.Firewall().AllocateFirewall(firewall.NewAllocateFirewallParams().WithContext(ctx).WithBody(req), nil)
	if err != nil {
		return nil, b.capacity(op, spec.Name, spec.Size, partition, b.wrap(op, spec.Name, err))
	}
	return b.toMachine(viewFirewall(resp.Payload)), nil
}

// FindFirewalls implements Firewalls.
func (b *Backend) FindFirewalls(ctx context.Context, cluster string) ([]metal.Machine, error) {
	return b.findMachines(ctx, "find firewalls", cluster, roleFirewall, TagCluster+"="+cluster)
}

// FreeFirewall implements Firewalls; firewalls are freed like machines.
func (b *Backend) FreeFirewall(ctx context.Context, id string, owner metal.Owner) error {
	return b.FreeMachine(ctx, id, owner)
}
