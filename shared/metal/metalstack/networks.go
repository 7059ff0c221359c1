package metalstack

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/metal-stack/metal-go/api/client/ip"
	"github.com/metal-stack/metal-go/api/client/network"
	"github.com/metal-stack/metal-go/api/models"

	"github.com/metalkube/metalkube/shared/metal"
)

func (b *Backend) toNetwork(r *models.V1NetworkResponse) metal.Network {
	n := metal.Network{ID: deref(r.ID), Name: r.Labels[LabelNetworkName], Cluster: r.Labels[TagCluster], Partition: r.Partitionid}
	if n.Name == "" {
		n.Name = r.Name
	}
	for _, p := range r.Prefixes {
		if pp, err := netip.ParsePrefix(p); err == nil {
			n.Prefixes = append(n.Prefixes, pp)
		}
	}
	tags := maps.Clone(r.Labels)
	delete(tags, TagCluster)
	delete(tags, LabelNetworkName)
	if len(tags) > 0 {
		n.Tags = tags
	}
	return n
}

// AllocateNetwork implements metal.Networks: a child of the partition's
// private super network, labelled with the cluster and the request name.
func (b *Backend) AllocateNetwork(ctx context.Context, spec metal.NetworkSpec) (*metal.Network, error) {
	const op = "allocate network"
	partition := spec.Partition
	if partition == "" {
		partition = b.cfg.Partition
	}
	switch {
	case spec.Name == "":
		return nil, metal.Errorf(metal.ErrInvalid, op, "", "name is empty")
	case spec.Cluster == "":
		return nil, metal.Errorf(metal.ErrInvalid, op, spec.Name, "cluster is empty")
	case partition == "":
		return nil, metal.Errorf(metal.ErrInvalid, op, spec.Name, "no partition given and no default partition configured")
	}
	defer b.locks.lock("network/" + spec.Cluster + "/" + spec.Name)()
	existing, err := b.findNetworks(ctx, op, spec.Cluster, map[string]string{LabelNetworkName: spec.Name})
	if err != nil {
		return nil, err
	}
	if len(existing) > 0 {
		return &existing[0], nil
	}
	labels := map[string]string{}
	for k, v := range spec.Tags {
		labels[k] = v
	}
	labels[TagCluster] = spec.Cluster
	labels[LabelNetworkName] = spec.Name
	req := &models.V1NetworkAllocateRequest{Name: spec.Cluster + "-" + spec.Name, Description: "metalkube network " + spec.Name + " of cluster " + spec.Cluster,
		Projectid: b.cfg.Project, Partitionid: partition, Labels: labels, Destinationprefixes: []string{}}
	if spec.PrefixLength > 0 {
		req.Length = map[string]int64{"IPv4": int64(spec.PrefixLength)}
	}
	resp, err := b.c.Network().AllocateNetwork(network.NewAllocateNetworkParams().WithContext(ctx).WithBody(req), nil)
	if err != nil {
		return nil, b.wrap(op, spec.Name, err)
	}
	n := b.toNetwork(resp.Payload)
	return &n, nil
}

func (b *Backend) findNetworks(ctx context.Context, op, cluster string, labels map[string]string) ([]metal.Network, error) {
	l := maps.Clone(labels)
	if l == nil {
		l = map[string]string{}
	}
	l[TagCluster] = cluster
	resp, err := b.c.Network().FindNetworks(network.NewFindNetworksParams().WithContext(ctx).WithBody(&models.V1NetworkFindRequest{
		Projectid: b.cfg.Project, Labels: l}), nil)
	if err != nil {
		return nil, b.wrap(op, cluster, err)
	}
	rs := resp.Payload
	slices.SortStableFunc(rs, func(x, y *models.V1NetworkResponse) int { return time.Time(x.Created).Compare(time.Time(y.Created)) })
	var out []metal.Network
	for _, r := range rs {
		if r.Projectid != b.cfg.Project || !metal.MatchTags(r.Labels, l) {
			continue
		}
		out = append(out, b.toNetwork(r))
	}
	return out, nil
}

// FreeNetwork implements metal.Networks. metal-api refuses to free a
// network that still has IPs (422 "prefix ... has ips, deletion not
// possible", from go-ipam). IPs of a live machine or any other IP make that
// ErrConflict; IPs whose machine was freed are released by metal-api
// shortly, so FreeNetwork retries until they are gone (WaitTimeout).
func (b *Backend) FreeNetwork(ctx context.Context, id string) error {
	const op = "free network"
	got, err := b.c.Network().FindNetwork(network.NewFindNetworkParams().WithContext(ctx).WithID(id), nil)
	if err != nil {
		if err := b.wrap(op, id, err); !metal.IsNotFound(err) {
			return err
		}
		return nil
	}
	if got.Payload.Projectid != b.cfg.Project {
		return nil // not ours: as good as missing
	}
	return b.poll(ctx, op, id, "the release of the IPs of freed machines in network "+id, func() (bool, error) {
		_, err := b.c.Network().FreeNetwork(network.NewFreeNetworkParams().WithContext(ctx).WithID(id), nil)
		if err == nil {
			return true, nil
		}
		err = b.wrap(op, id, err)
		switch {
		case metal.IsNotFound(err):
			return true, nil
		case !strings.Contains(err.Error(), "has ips"):
			return false, err
		}
		return false, b.networkInUse(ctx, op, id)
	})
}

// networkInUse returns ErrConflict naming an IP of the network that is not
// about to be released: one not bound to a machine, or bound to a machine
// that is still allocated.
func (b *Backend) networkInUse(ctx context.Context, op, id string) error {
	resp, err := b.c.IP().FindIPs(ip.NewFindIPsParams().WithContext(ctx).WithBody(&models.V1IPFindRequest{Networkid: id}), nil)
	if err != nil {
		return b.wrap(op, id, err)
	}
	for _, r := range resp.Payload {
		m, ok := tagMap(r.Tags)[TagMachineID]
		if !ok {
			return metal.Errorf(metal.ErrConflict, op, id, "network has ip %s in use (%s)", deref(r.Ipaddress), strings.Join(r.Tags, ", "))
		}
		v, err := b.view(ctx, op, m)
		if err != nil && !metal.IsNotFound(err) {
			return err
		}
		if err == nil && v.alloc != nil {
			return metal.Errorf(metal.ErrConflict, op, id, "network has ip %s of machine %s, which is allocated", deref(r.Ipaddress), m)
		}
	}
	return nil
}

// FindNetworks implements metal.Networks.
func (b *Backend) FindNetworks(ctx context.Context, cluster string) ([]metal.Network, error) {
	return b.findNetworks(ctx, "find networks", cluster, nil)
}
