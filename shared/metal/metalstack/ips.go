package metalstack

import (
	"context"
	"fmt"
	"maps"
	"net/netip"

	"github.com/metal-stack/metal-go/api/client/ip"
	"github.com/metal-stack/metal-go/api/models"

	"github.com/metalkube/metalkube/shared/metal"
)

func (b *Backend) toIP(r *models.V1IPResponse) metal.IP {
	tags := tagMap(r.Tags)
	addr, _ := netip.ParseAddr(deref(r.Ipaddress))
	return metal.IP{ID: deref(r.Ipaddress), Name: r.Name, Cluster: tags[TagCluster], Network: deref(r.Networkid),
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
		Tags: tagList(spec.Tags, TagCluster+"="+spec.Cluster)}
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

// FreeIP implements metal.IPs.
func (b *Backend) FreeIP(ctx context.Context, id string) error {
	const op = "free ip"
	if _, err := b.getIP(ctx, op, id); err != nil {
		if metal.IsNotFound(err) {
			return nil
		}
		return err
	}
	if _, err := b.c.IP().FreeIP(ip.NewFreeIPParams().WithContext(ctx).WithID(id), nil); err != nil {
		if err := b.wrap(op, id, err); !metal.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// FindIPs implements metal.IPs.
func (b *Backend) FindIPs(ctx context.Context, q metal.IPQuery) ([]metal.IP, error) {
	const op = "find ips"
	req := &models.V1IPFindRequest{Projectid: b.cfg.Project, Networkid: q.Network, Tags: tagList(q.Tags)}
	if q.Cluster != "" {
		req.Tags = append(req.Tags, TagCluster+"="+q.Cluster)
	}
	if q.Address.IsValid() {
		req.Ipaddress = q.Address.String()
	}
	resp, err := b.c.IP().FindIPs(ip.NewFindIPsParams().WithContext(ctx).WithBody(req), nil)
	if err != nil {
		return nil, b.wrap(op, q.Cluster, err)
	}
	var out []metal.IP
	for _, r := range resp.Payload {
		got := b.toIP(r)
		if (q.Cluster == "" || got.Cluster == q.Cluster) && (q.Network == "" || got.Network == q.Network) &&
			(!q.Address.IsValid() || got.Address == q.Address) && metal.MatchTags(got.Tags, q.Tags) {
			out = append(out, got)
		}
	}
	return out, nil
}

// SetIPTags implements metal.IPs; the cluster tag is kept.
func (b *Backend) SetIPTags(ctx context.Context, id string, tags map[string]string) (*metal.IP, error) {
	const op = "set ip tags"
	cur, err := b.getIP(ctx, op, id)
	if err != nil {
		return nil, err
	}
	var keep []string
	for k, v := range tagMap(cur.Tags) {
		if k == TagCluster {
			keep = append(keep, tagString(k, v))
		}
	}
	resp, err := b.c.IP().UpdateIP(ip.NewUpdateIPParams().WithContext(ctx).WithBody(&models.V1IPUpdateRequest{
		Ipaddress: cur.Ipaddress, Name: cur.Name, Description: cur.Description, Type: cur.Type,
		Tags: tagList(maps.Clone(tags), keep...)}), nil)
	if err != nil {
		return nil, b.wrap(op, id, err)
	}
	got := b.toIP(resp.Payload)
	return &got, nil
}
