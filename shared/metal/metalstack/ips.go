package metalstack

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"strings"

	"github.com/metal-stack/metal-go/api/client/ip"
	"github.com/metal-stack/metal-go/api/models"

	"github.com/metalkube/metalkube/shared/metal"
)

// toIP converts an IP. Its cluster is its cluster tag or, for the IPs
// metal-ccm allocates (which carry only Service tags), the one cluster its
// Service tags name.
func (b *Backend) toIP(r *models.V1IPResponse) metal.IP {
	tags := tagMap(r.Tags)
	addr, _ := netip.ParseAddr(deref(r.Ipaddress))
	cluster := tags[TagCluster]
	if cs := serviceClusters(r.Tags); cluster == "" && len(cs) == 1 {
		cluster = cs[0]
	}
	return metal.IP{ID: deref(r.Ipaddress), Name: r.Name, Cluster: cluster, Network: deref(r.Networkid),
		Address: addr, Type: metal.IPType(deref(r.Type)), Tags: userTags(tags)}
}

// AllocateIP implements metal.IPs. The IP is named after the request and
// tagged with the cluster; a second call for the same (Cluster, Name)
// returns the first IP.
func (b *Backend) AllocateIP(ctx context.Context, spec metal.IPSpec) (*metal.IP, error) {
	const op = "allocate ip"
	obj := spec.Name
	if spec.Address.IsValid() {
		obj = fmt.Sprintf("%s (%s)", spec.Name, spec.Address)
	}
	switch {
	case spec.Name == "":
		return nil, metal.Errorf(metal.ErrInvalid, op, obj, "name is empty")
	case spec.Cluster == "":
		return nil, metal.Errorf(metal.ErrInvalid, op, obj, "cluster is empty")
	case spec.Network == "":
		return nil, metal.Errorf(metal.ErrInvalid, op, obj, "network is empty")
	}
	typ := spec.Type
	if typ == "" {
		typ = metal.IPEphemeral
	}
	if typ != metal.IPEphemeral && typ != metal.IPStatic {
		return nil, metal.Errorf(metal.ErrInvalid, op, obj, "type %q: want ephemeral or static", typ)
	}
	defer b.locks.lock("ip/" + spec.Cluster + "/" + spec.Name)()
	found, err := b.c.IP().FindIPs(ip.NewFindIPsParams().WithContext(ctx).WithBody(&models.V1IPFindRequest{
		Projectid: b.cfg.Project, Name: spec.Name, Tags: []string{TagCluster + "=" + spec.Cluster}}), nil)
	if err != nil {
		return nil, b.wrap(op, obj, err)
	}
	for _, r := range found.Payload {
		if got := b.toIP(r); got.Cluster == spec.Cluster && got.Name == spec.Name {
			return &got, nil
		}
	}
	req := &models.V1IPAllocateRequest{Name: spec.Name, Description: "metalkube " + spec.Name + " of cluster " + spec.Cluster,
		Networkid: new(spec.Network), Projectid: new(b.cfg.Project), Type: new(string(typ)),
		Tags: tagList(spec.Tags, spec.Cluster, TagCluster+"="+spec.Cluster)}
	var resp *models.V1IPResponse
	if spec.Address.IsValid() {
		ok, err := b.c.IP().AllocateSpecificIP(ip.NewAllocateSpecificIPParams().WithContext(ctx).WithIP(spec.Address.String()).WithBody(req), nil)
		if err != nil {
			return nil, b.wrap(op, obj, err)
		}
		resp = ok.Payload
	} else {
		switch spec.Family {
		case 4:
			req.Addressfamily = "IPv4"
		case 6:
			req.Addressfamily = "IPv6"
		}
		ok, err := b.c.IP().AllocateIP(ip.NewAllocateIPParams().WithContext(ctx).WithBody(req), nil)
		if err != nil {
			return nil, b.wrap(op, obj, err)
		}
		resp = ok.Payload
	}
	got := b.toIP(resp)
	return &got, nil
}

// GetIP implements metal.IPs; an IP of another project is not found.
func (b *Backend) GetIP(ctx context.Context, id string) (*metal.IP, error) {
	r, err := b.getIP(ctx, "get ip", id)
	if err != nil {
		return nil, err
	}
	got := b.toIP(r)
	return &got, nil
}

func (b *Backend) getIP(ctx context.Context, op, id string) (*models.V1IPResponse, error) {
	resp, err := b.c.IP().FindIP(ip.NewFindIPParams().WithContext(ctx).WithID(id), nil)
	if err != nil {
		return nil, b.wrap(op, id, err)
	}
	if deref(resp.Payload.Projectid) != b.cfg.Project {
		return nil, metal.Errorf(metal.ErrNotFound, op, id, "ip is not allocated in project %s", b.cfg.Project)
	}
	return resp.Payload, nil
}

// FreeIP implements metal.IPs. An IP of machine scope (acquired by
// metal-api for a machine, tagged with its ID) is not freed: metal-api
// refuses it (validateIPDelete) and releases it itself with the machine.
func (b *Backend) FreeIP(ctx context.Context, id string) error {
	const op = "free ip"
	cur, err := b.getIP(ctx, op, id)
	if err != nil {
		if metal.IsNotFound(err) {
			return nil
		}
		return err
	}
	if m, ok := tagMap(cur.Tags)[TagMachineID]; ok {
		return metal.Errorf(metal.ErrInvalid, op, id, "ip belongs to machine %s; metal-api releases it when the machine is freed", m)
	}
	if _, err := b.c.IP().FreeIP(ip.NewFreeIPParams().WithContext(ctx).WithID(id), nil); err != nil {
		if err := b.wrap(op, id, err); !metal.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// FindIPs implements metal.IPs. An IP belongs to a cluster by its cluster
// tag or by a Service tag of exactly that cluster, so that the IPs metal-ccm
// allocated are found too.
func (b *Backend) FindIPs(ctx context.Context, q metal.IPQuery) ([]metal.IP, error) {
	const op = "find ips"
	req := &models.V1IPFindRequest{Projectid: b.cfg.Project, Networkid: q.Network, Tags: tagList(q.Tags, q.Cluster)}
	if q.Address.IsValid() {
		req.Ipaddress = q.Address.String()
	}
	resp, err := b.c.IP().FindIPs(ip.NewFindIPsParams().WithContext(ctx).WithBody(req), nil)
	if err != nil {
		return nil, b.wrap(op, q.Cluster, err)
	}
	var out []metal.IP
	for _, r := range resp.Payload {
		if q.Cluster != "" && !memberOf(r.Tags, q.Cluster) {
			continue
		}
		got := b.toIP(r)
		if (q.Network == "" || got.Network == q.Network) && (!q.Address.IsValid() || got.Address == q.Address) && metal.MatchTags(got.Tags, q.Tags) {
			out = append(out, got)
		}
	}
	return out, nil
}

// SetIPTags implements metal.IPs through UpdateIPTags.
func (b *Backend) SetIPTags(ctx context.Context, id string, tags map[string]string) (*metal.IP, error) {
	return b.updateIPTags(ctx, "set ip tags", id, func(map[string]string) (map[string]string, error) { return tags, nil })
}

// UpdateIPTags implements metal.IPTagUpdater. metal-api's IP update has no
// precondition (no resource version to compare), so the backend serialises
// the tag updates of one IP in this process and re-reads the IP right before
// each write; the tags the backend manages (cluster, machine, egress) are
// kept from that fresh read. Two processes (two metalkube replicas, or
// metalkube and metal-ccm) updating one IP at once can still overwrite each
// other's change: the last write wins. Leader election keeps one writer per
// cluster; a static IP shared by Services of two clusters is the case that
// remains.
//
// Adding a Service tag to an IP of machine scope or an egress IP is refused
// (ErrInvalid), as metal-ccm refuses it.
func (b *Backend) UpdateIPTags(ctx context.Context, id string, update func(tags map[string]string) (map[string]string, error)) (*metal.IP, error) {
	return b.updateIPTags(ctx, "update ip tags", id, update)
}

func (b *Backend) updateIPTags(ctx context.Context, op, id string, update func(tags map[string]string) (map[string]string, error)) (*metal.IP, error) {
	defer b.locks.lock("ip-tags/" + id)()
	cur, err := b.getIP(ctx, op, id)
	if err != nil {
		return nil, err
	}
	old := b.toIP(cur).Tags
	tags, err := update(maps.Clone(old))
	if err != nil {
		return nil, err
	}
	var keep []string
	have := tagMap(cur.Tags)
	for _, k := range []string{TagCluster, TagMachineID, TagEgress} {
		if v, ok := have[k]; ok {
			keep = append(keep, tagString(k, v))
		}
	}
	for k := range tags {
		if _, had := old[k]; had || !strings.HasPrefix(k, metal.TagServicePrefix) {
			continue
		}
		if m, ok := have[TagMachineID]; ok {
			return nil, metal.Errorf(metal.ErrInvalid, op, id, "ip is used by machine %s and cannot be used for a service", m)
		}
		if _, ok := have[TagEgress]; ok {
			return nil, metal.Errorf(metal.ErrInvalid, op, id, "ip is used for egress and cannot be used for a service")
		}
	}
	resp, err := b.c.IP().UpdateIP(ip.NewUpdateIPParams().WithContext(ctx).WithBody(&models.V1IPUpdateRequest{
		Ipaddress: cur.Ipaddress, Name: cur.Name, Description: cur.Description, Type: cur.Type,
		Tags: tagList(tags, b.toIP(cur).Cluster, keep...)}), nil)
	if err != nil {
		return nil, b.wrap(op, id, err)
	}
	got := b.toIP(resp.Payload)
	return &got, nil
}
