package ironcore

import (
	"context"
	"encoding/json"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	ipamv1 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/shared/metal"
)

// ConditionReady is the IPAddressClaim condition an IPAM provider sets.
const ConditionReady = "Ready"

// ipClaimName is the IPAddressClaim name of a request.
func ipClaimName(cluster, name string) string { return cluster + "-" + name }

// AllocateIP implements metal.IPs with an IPAddressClaim and waits (up to
// IPTimeout) for the IPAM provider's answer. A refusal deletes the claim.
func (b *Backend) AllocateIP(ctx context.Context, spec metal.IPSpec) (*metal.IP, error) {
	const op = "allocate ip"
	id := ipClaimName(spec.Cluster, spec.Name)
	if errs := validation.IsDNS1123Subdomain(id); len(errs) > 0 || spec.Name == "" {
		return nil, metal.Errorf(metal.ErrInvalid, op, spec.Name, "name %q: %s", id, strings.Join(errs, "; "))
	}
	pool, ok := b.cfg.Pools[spec.Network]
	if !ok {
		return nil, metal.Errorf(metal.ErrInvalid, op, spec.Name, "network %q has no IP pool configured", spec.Network)
	}
	claim := &ipamv1.IPAddressClaim{}
	err := b.c.Get(ctx, client.ObjectKey{Namespace: b.cfg.Namespace, Name: id}, claim)
	switch {
	case err == nil && claim.DeletionTimestamp != nil:
		return nil, metal.Errorf(metal.ErrUnavailable, op, spec.Name, "claim %s/%s is still being freed", claim.Namespace, claim.Name)
	case err == nil:
		ip, err := b.waitIP(ctx, claim)
		if err == nil && spec.Address.IsValid() && ip.Address != spec.Address {
			return nil, metal.Errorf(metal.ErrConflict, op, spec.Name, "already allocated with address %s, not %s", ip.Address, spec.Address)
		}
		return ip, err
	case !apierrors.IsNotFound(err):
		return nil, classify(op, spec.Name, err)
	}
	if spec.Address.IsValid() {
		// A taken address is refused without creating anything; the IPAM
		// provider still has the last word for addresses held elsewhere.
		addrs := &ipamv1.IPAddressList{}
		if err := b.c.List(ctx, addrs, client.InNamespace(b.cfg.Namespace)); err != nil {
			return nil, classify(op, spec.Name, err)
		}
		for _, a := range addrs.Items {
			if a.Spec.PoolRef.Name == pool.Name && a.Spec.PoolRef.Kind == pool.Kind && a.Spec.Address == spec.Address.String() {
				return nil, metal.Errorf(metal.ErrConflict, op, spec.Name, "address %s of pool %s is already allocated (claim %s)", spec.Address, pool.Name, a.Spec.ClaimRef.Name)
			}
		}
	}
	typ := spec.Type
	if typ == "" {
		typ = metal.IPEphemeral
	}
	tags, _ := json.Marshal(spec.Tags)
	claim = &ipamv1.IPAddressClaim{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   b.cfg.Namespace,
			Name:        id,
			Labels:      map[string]string{LabelCluster: spec.Cluster, LabelIPType: string(typ)},
			Annotations: map[string]string{AnnotationName: spec.Name, AnnotationTags: string(tags), AnnotationNetwork: spec.Network},
		},
		Spec: ipamv1.IPAddressClaimSpec{
			ClusterName: spec.Cluster,
			PoolRef:     ipamv1.IPPoolReference{APIGroup: pool.APIGroup, Kind: pool.Kind, Name: pool.Name},
		},
	}
	if spec.Address.IsValid() {
		claim.Annotations[AnnotationRequestedAddress] = spec.Address.String()
	} else if spec.Family == 4 || spec.Family == 6 {
		claim.Annotations[AnnotationRequestedFamily] = strconv.Itoa(spec.Family)
	}
	if err := b.c.Create(ctx, claim); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return b.AllocateIP(ctx, spec)
		}
		return nil, classify(op, spec.Name, err)
	}
	ip, err := b.waitIP(ctx, claim)
	if err != nil && !metal.IsUnavailable(err) {
		// The IPAM provider refused: remove the claim so nothing is left. A
		// provider that is only slow keeps the claim; a retry of the same
		// request picks it up again.
		_ = b.c.Delete(context.WithoutCancel(ctx), claim)
	}
	return ip, err
}

// waitIP polls a claim until the IPAM provider has answered.
func (b *Backend) waitIP(ctx context.Context, claim *ipamv1.IPAddressClaim) (*metal.IP, error) {
	const op = "allocate ip"
	name := claim.Annotations[AnnotationName]
	deadline := time.Now().Add(b.cfg.IPTimeout)
	for delay := 5 * time.Millisecond; ; delay = min(delay*2, 200*time.Millisecond) {
		if ip, err := b.ip(ctx, claim); ip != nil || err != nil {
			return ip, err
		}
		if c := meta.FindStatusCondition(claim.Status.Conditions, ConditionReady); c != nil && c.Status == metav1.ConditionFalse {
			switch c.Reason {
			case ReasonAddressInUse:
				return nil, metal.Errorf(metal.ErrConflict, op, name, "%s", c.Message)
			case ReasonAddressOutOfRange:
				return nil, metal.Errorf(metal.ErrInvalid, op, name, "%s", c.Message)
			case ReasonPoolExhausted:
				return nil, metal.Errorf(metal.ErrNoCapacity, op, name, "%s", c.Message)
			}
		}
		if time.Now().After(deadline) {
			return nil, metal.Errorf(metal.ErrUnavailable, op, name, "IPAM provider did not answer claim %s/%s within %s", claim.Namespace, claim.Name, b.cfg.IPTimeout)
		}
		select {
		case <-ctx.Done():
			return nil, metal.Wrap(metal.ErrUnavailable, op, name, ctx.Err())
		case <-time.After(delay):
		}
		if err := b.c.Get(ctx, client.ObjectKeyFromObject(claim), claim); err != nil {
			return nil, classify(op, name, err)
		}
	}
}

// ip returns the IP of a bound claim, or nil while it is unbound.
func (b *Backend) ip(ctx context.Context, claim *ipamv1.IPAddressClaim) (*metal.IP, error) {
	if claim.Status.AddressRef.Name == "" {
		return nil, nil
	}
	addr := &ipamv1.IPAddress{}
	if err := b.c.Get(ctx, client.ObjectKey{Namespace: claim.Namespace, Name: claim.Status.AddressRef.Name}, addr); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, classify("get ip", claim.Name, err)
	}
	a, err := netip.ParseAddr(addr.Spec.Address)
	if err != nil {
		return nil, metal.Errorf(metal.ErrInvalid, "get ip", claim.Name, "IPAddress %s has address %q: %v", addr.Name, addr.Spec.Address, err)
	}
	return ipOf(claim, a), nil
}

func ipOf(claim *ipamv1.IPAddressClaim, a netip.Addr) *metal.IP {
	ip := &metal.IP{
		ID: claim.Name, Name: claim.Annotations[AnnotationName], Cluster: claim.Labels[LabelCluster],
		Network: claim.Annotations[AnnotationNetwork], Address: a, Type: metal.IPType(claim.Labels[LabelIPType]),
	}
	if t := claim.Annotations[AnnotationTags]; t != "" && t != "null" {
		_ = json.Unmarshal([]byte(t), &ip.Tags)
	}
	return ip
}

// FreeIP implements metal.IPs.
func (b *Backend) FreeIP(ctx context.Context, id string) error {
	claim := &ipamv1.IPAddressClaim{ObjectMeta: metav1.ObjectMeta{Namespace: b.cfg.Namespace, Name: id}}
	if err := b.c.Delete(ctx, claim); err != nil && !apierrors.IsNotFound(err) {
		return classify("free ip", id, err)
	}
	return nil
}

// GetIP implements metal.IPs. An unbound claim is ErrNotFound.
func (b *Backend) GetIP(ctx context.Context, id string) (*metal.IP, error) {
	claim := &ipamv1.IPAddressClaim{}
	if err := b.c.Get(ctx, client.ObjectKey{Namespace: b.cfg.Namespace, Name: id}, claim); err != nil {
		return nil, classify("get ip", id, err)
	}
	if claim.DeletionTimestamp != nil {
		return nil, metal.Errorf(metal.ErrNotFound, "get ip", id, "being freed")
	}
	ip, err := b.ip(ctx, claim)
	if err == nil && ip == nil {
		err = metal.Errorf(metal.ErrNotFound, "get ip", id, "claim has no address yet")
	}
	return ip, err
}

// FindIPs implements metal.IPs.
func (b *Backend) FindIPs(ctx context.Context, q metal.IPQuery) ([]metal.IP, error) {
	opts := []client.ListOption{client.InNamespace(b.cfg.Namespace)}
	if q.Cluster != "" {
		opts = append(opts, client.MatchingLabels{LabelCluster: q.Cluster})
	}
	claims := &ipamv1.IPAddressClaimList{}
	if err := b.c.List(ctx, claims, opts...); err != nil {
		return nil, classify("find ips", q.Cluster, err)
	}
	addrs := &ipamv1.IPAddressList{}
	if err := b.c.List(ctx, addrs, client.InNamespace(b.cfg.Namespace)); err != nil {
		return nil, classify("find ips", q.Cluster, err)
	}
	byName := map[string]string{}
	for _, a := range addrs.Items {
		byName[a.Name] = a.Spec.Address
	}
	var out []metal.IP
	for i := range claims.Items {
		c := &claims.Items[i]
		if c.DeletionTimestamp != nil || c.Status.AddressRef.Name == "" {
			continue
		}
		a, err := netip.ParseAddr(byName[c.Status.AddressRef.Name])
		if err != nil {
			continue
		}
		ip := ipOf(c, a)
		if (q.Network != "" && ip.Network != q.Network) || (q.Address.IsValid() && ip.Address != q.Address) || !metal.MatchTags(ip.Tags, q.Tags) {
			continue
		}
		out = append(out, *ip)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// SetIPTags implements metal.IPs.
func (b *Backend) SetIPTags(ctx context.Context, id string, tags map[string]string) (*metal.IP, error) {
	claim := &ipamv1.IPAddressClaim{}
	if err := b.c.Get(ctx, client.ObjectKey{Namespace: b.cfg.Namespace, Name: id}, claim); err != nil {
		return nil, classify("set ip tags", id, err)
	}
	raw, _ := json.Marshal(tags)
	patch := client.MergeFrom(claim.DeepCopy())
	if claim.Annotations == nil {
		claim.Annotations = map[string]string{}
	}
	claim.Annotations[AnnotationTags] = string(raw)
	if err := b.c.Patch(ctx, claim, patch); err != nil {
		return nil, classify("set ip tags", id, err)
	}
	return b.GetIP(ctx, id)
}
