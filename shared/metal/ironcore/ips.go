package ironcore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	ipamv1 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/shared/metal"
)

// poolGroup is the API group of the in-cluster IPAM provider's pools.
const poolGroup = "ipam.cluster.x-k8s.io"

// Metadata of the IP objects.
const (
	// LabelNetwork is the network an IPAddressClaim was allocated on.
	LabelNetwork = "metal.metalkube.io/network"
	// LabelTagPrefix prefixes the labels that index an IP's tags: the label
	// name after the prefix is a hash of the tag's key, the value a hash of its
	// value, so that any tag can be searched with a label selector.
	LabelTagPrefix = "tags.metalkube.io/"
	// AnnotationStaticParent on a static IP's one-address pool names the
	// network pool (Kind/name) whose excludedAddresses hold the address.
	AnnotationStaticParent = "metal.metalkube.io/static-parent"
	// AnnotationStaticAddress on a static IP's one-address pool is its address.
	AnnotationStaticAddress = "metal.metalkube.io/static-address"
)

// ipClaimName is the IPAddressClaim name of a request.
func ipClaimName(cluster, name string) string { return cluster + "-" + name }

// staticPoolName is the name of the one-address pool of a static IP.
func staticPoolName(id string) string { return id }

func tagHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:20])
}

// tagLabels returns the labels indexing tags.
func tagLabels(tags map[string]string) map[string]string {
	out := make(map[string]string, len(tags))
	for k, v := range tags {
		out[LabelTagPrefix+tagHash(k)] = tagHash(v)
	}
	return out
}

// AllocateIP implements metal.IPs with an IPAddressClaim answered by the
// in-cluster IPAM provider (see the package documentation for the contract).
func (b *Backend) AllocateIP(ctx context.Context, spec metal.IPSpec) (*metal.IP, error) {
	const op = "allocate ip"
	id := ipClaimName(spec.Cluster, spec.Name)
	if errs := validation.IsDNS1123Subdomain(id); len(errs) > 0 || spec.Name == "" {
		return nil, metal.Errorf(metal.ErrInvalid, op, spec.Name, "name %q: %s", id, strings.Join(errs, "; "))
	}
	if errs := validation.IsValidLabelValue(spec.Cluster); len(errs) > 0 || spec.Cluster == "" {
		return nil, metal.Errorf(metal.ErrInvalid, op, spec.Name, "cluster %q must be a non-empty label value", spec.Cluster)
	}
	if errs := validation.IsValidLabelValue(spec.Network); len(errs) > 0 {
		return nil, metal.Errorf(metal.ErrInvalid, op, spec.Name, "network %q: %s", spec.Network, strings.Join(errs, "; "))
	}
	if spec.Family != 0 && spec.Family != 4 && spec.Family != 6 {
		return nil, metal.Errorf(metal.ErrInvalid, op, spec.Name, "family %d: want 4 or 6", spec.Family)
	}
	if spec.Address.IsValid() && spec.Family != 0 && family(spec.Address) != spec.Family {
		return nil, metal.Errorf(metal.ErrInvalid, op, spec.Name, "address %s is not of family %d", spec.Address, spec.Family)
	}
	refs := b.cfg.Pools[spec.Network]
	if len(refs) == 0 {
		return nil, metal.Errorf(metal.ErrInvalid, op, spec.Name, "network %q has no IP pool configured", spec.Network)
	}
	claim := &ipamv1.IPAddressClaim{}
	err := b.c.Get(ctx, client.ObjectKey{Namespace: b.cfg.Namespace, Name: id}, claim)
	switch {
	case err == nil && claim.DeletionTimestamp != nil:
		return nil, metal.Errorf(metal.ErrUnavailable, op, spec.Name, "claim %s/%s is still being freed", claim.Namespace, claim.Name)
	case err == nil:
		ip, err := b.waitIP(ctx, claim, nil)
		switch {
		case err != nil:
			return nil, err
		case spec.Address.IsValid() && ip.Address != spec.Address:
			return nil, metal.Errorf(metal.ErrConflict, op, spec.Name, "already allocated with address %s, not %s", ip.Address, spec.Address)
		case spec.Family != 0 && family(ip.Address) != spec.Family:
			return nil, metal.Errorf(metal.ErrConflict, op, spec.Name, "already allocated with address %s, not of family %d", ip.Address, spec.Family)
		}
		return ip, nil
	case !apierrors.IsNotFound(err):
		return nil, classify(op, spec.Name, err)
	}

	pools := make([]*pool, 0, len(refs))
	for _, ref := range refs {
		p, err := b.readPool(ctx, ref)
		if err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || isNetError(err) || apierrors.IsServiceUnavailable(err) {
				return nil, classify(op, spec.Name, err)
			}
			return nil, metal.Errorf(metal.ErrInvalid, op, spec.Name, "network %q: %v", spec.Network, err)
		}
		pools = append(pools, p)
	}
	if spec.Address.IsValid() {
		i := slices.IndexFunc(pools, func(p *pool) bool { return p.contains(spec.Address) })
		if i < 0 {
			return nil, metal.Errorf(metal.ErrInvalid, op, spec.Name, "address %s is outside the pools of network %q (%s)", spec.Address, spec.Network, poolNames(pools))
		}
		return b.allocateStatic(ctx, spec, id, pools[i])
	}
	want := spec.Family
	if want == 0 { // the network's default: IPv4 where it has it
		want = 6
		if slices.ContainsFunc(pools, func(p *pool) bool { return p.family == 4 }) {
			want = 4
		}
	}
	i := slices.IndexFunc(pools, func(p *pool) bool { return p.family == want })
	if i < 0 {
		return nil, metal.Errorf(metal.ErrInvalid, op, spec.Name, "network %q has no IPv%d pool (%s)", spec.Network, want, poolNames(pools))
	}
	p := pools[i]
	if p.free == 0 {
		return nil, metal.Errorf(metal.ErrNoCapacity, op, spec.Name, "%s of network %q has no free address", p, spec.Network)
	}
	claim = b.newClaim(spec, id, ipamv1.IPPoolReference{APIGroup: p.ref.APIGroup, Kind: p.ref.Kind, Name: p.ref.Name})
	if err := b.c.Create(ctx, claim); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return b.AllocateIP(ctx, spec)
		}
		return nil, classify(op, spec.Name, err)
	}
	ip, err := b.waitIP(ctx, claim, p)
	if metal.IsNoCapacity(err) {
		// Nothing is left behind: the claim goes, and with it the provider's
		// finalizer, before the caller hears about it.
		if rerr := b.release(context.WithoutCancel(ctx), claim.Name); rerr != nil {
			return nil, fmt.Errorf("%w (and releasing the claim: %v)", err, rerr)
		}
	}
	return ip, err
}

func poolNames(pools []*pool) string {
	names := make([]string, len(pools))
	for i, p := range pools {
		names[i] = p.String()
	}
	return strings.Join(names, ", ")
}

func (b *Backend) newClaim(spec metal.IPSpec, id string, ref ipamv1.IPPoolReference) *ipamv1.IPAddressClaim {
	typ := spec.Type
	if typ == "" {
		typ = metal.IPEphemeral
	}
	tags, _ := json.Marshal(spec.Tags)
	labels := tagLabels(spec.Tags)
	labels[LabelCluster], labels[LabelIPType], labels[LabelNetwork] = spec.Cluster, string(typ), spec.Network
	// No clusterName: see the package documentation.
	return &ipamv1.IPAddressClaim{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   b.cfg.Namespace,
			Name:        id,
			Labels:      labels,
			Annotations: map[string]string{AnnotationName: spec.Name, AnnotationTags: string(tags)},
		},
		Spec: ipamv1.IPAddressClaimSpec{PoolRef: ref},
	}
}

// allocateStatic allocates a requested address: it takes the address out of
// its network pool (the pool's excludedAddresses), checks that no one holds
// it, and claims it from a one-address InClusterIPPool of its own. Anything
// done is undone on failure.
func (b *Backend) allocateStatic(ctx context.Context, spec metal.IPSpec, id string, parent *pool) (*metal.IP, error) {
	const op = "allocate ip"
	addr := spec.Address.String()
	if parent.excludes(spec.Address) {
		return nil, metal.Errorf(metal.ErrConflict, op, spec.Name, "address %s of %s is already taken (a static IP or excluded by the pool)", addr, parent)
	}
	changed, err := b.setExcluded(ctx, parent.ref, addr, true)
	if err != nil {
		return nil, classify(op, spec.Name, err)
	}
	if !changed {
		return nil, metal.Errorf(metal.ErrConflict, op, spec.Name, "address %s of %s was taken concurrently", addr, parent)
	}
	undo := func() { _ = b.releaseStatic(context.WithoutCancel(ctx), id) }
	holder, err := b.addressHolder(ctx, parent, addr)
	if err != nil {
		_, _ = b.setExcluded(context.WithoutCancel(ctx), parent.ref, addr, false)
		return nil, classify(op, spec.Name, err)
	}
	if holder != "" {
		_, _ = b.setExcluded(context.WithoutCancel(ctx), parent.ref, addr, false)
		return nil, metal.Errorf(metal.ErrConflict, op, spec.Name, "address %s of %s is already allocated (IPAddress %s)", addr, parent, holder)
	}
	sp := poolObject(PoolRef{APIGroup: poolGroup, Kind: KindInClusterIPPool, Name: staticPoolName(id)}, b.cfg.Namespace)
	sp.SetLabels(map[string]string{LabelCluster: spec.Cluster})
	sp.SetAnnotations(map[string]string{AnnotationStaticParent: parent.ref.Kind + "/" + parent.ref.Name, AnnotationStaticAddress: addr})
	specMap := map[string]any{"addresses": []any{addr}, "prefix": parent.prefix}
	if parent.gateway != "" && parent.gateway != addr {
		specMap["gateway"] = parent.gateway
	}
	sp.Object["spec"] = specMap
	if err := b.c.Create(ctx, sp); err != nil && !apierrors.IsAlreadyExists(err) {
		_, _ = b.setExcluded(context.WithoutCancel(ctx), parent.ref, addr, false)
		return nil, classify(op, spec.Name, err)
	}
	if spec.Type == "" {
		spec.Type = metal.IPStatic
	}
	claim := b.newClaim(spec, id, ipamv1.IPPoolReference{APIGroup: poolGroup, Kind: KindInClusterIPPool, Name: sp.GetName()})
	if err := b.c.Create(ctx, claim); err != nil {
		undo()
		return nil, classify(op, spec.Name, err)
	}
	ip, err := b.waitIP(ctx, claim, nil)
	if err == nil && ip.Address != spec.Address { // never a different address
		undo()
		return nil, metal.Errorf(metal.ErrConflict, op, spec.Name, "IPAM provider answered %s for static address %s", ip.Address, addr)
	}
	return ip, err
}

// setExcluded adds addr to or removes it from a pool's excludedAddresses,
// reading the pool again when someone else changed it in between. It reports
// whether it changed the pool.
func (b *Backend) setExcluded(ctx context.Context, ref PoolRef, addr string, exclude bool) (bool, error) {
	for attempt := 0; ; attempt++ {
		p, err := b.readPool(ctx, ref)
		if err != nil {
			return false, err
		}
		if slices.Contains(p.excluded, addr) == exclude {
			return false, nil
		}
		ex := slices.DeleteFunc(slices.Clone(p.excluded), func(e string) bool { return e == addr })
		if exclude {
			ex = append(ex, addr)
		}
		if len(ex) == 0 {
			unstructured.RemoveNestedField(p.obj.Object, "spec", "excludedAddresses")
		} else if err := unstructured.SetNestedStringSlice(p.obj.Object, ex, "spec", "excludedAddresses"); err != nil {
			return false, err
		}
		err = b.c.Update(ctx, p.obj)
		if err == nil {
			return true, nil
		}
		if !apierrors.IsConflict(err) || attempt >= 5 {
			return false, err
		}
	}
}

// addressHolder returns the name of an IPAddress of the pool holding addr.
func (b *Backend) addressHolder(ctx context.Context, p *pool, addr string) (string, error) {
	addrs := &ipamv1.IPAddressList{}
	var opts []client.ListOption
	if p.namespace != "" {
		opts = append(opts, client.InNamespace(p.namespace))
	}
	if err := b.c.List(ctx, addrs, opts...); err != nil {
		return "", err
	}
	for _, a := range addrs.Items {
		if a.Spec.PoolRef.Name == p.ref.Name && a.Spec.PoolRef.Kind == p.ref.Kind && a.Spec.Address == addr {
			return a.Namespace + "/" + a.Name, nil
		}
	}
	return "", nil
}

// waitIP waits until the IPAM provider has bound a claim (up to IPTimeout:
// ErrUnavailable, the claim kept so that a retry picks it up). It looks at the
// claim whenever the shared claim watch reports a change to it, and otherwise
// with a backoff (to 1s with the watch, 200ms without one). With a pool, a
// claim the pool has no free address for is ErrNoCapacity: the provider
// itself never says so, it retries forever.
func (b *Backend) waitIP(ctx context.Context, claim *ipamv1.IPAddressClaim, p *pool) (*metal.IP, error) {
	const op = "allocate ip"
	name := claim.Annotations[AnnotationName]
	deadline := time.Now().Add(b.cfg.IPTimeout)
	var changed <-chan struct{}
	maxDelay := 200 * time.Millisecond
	if b.watch != nil {
		ch, done := b.watch.wait(claim.Name)
		defer done()
		changed, maxDelay = ch, time.Second
	}
	for delay := 5 * time.Millisecond; ; delay = min(delay*2, maxDelay) {
		if ip, err := b.ip(ctx, claim); ip != nil || err != nil {
			return ip, err
		}
		if p != nil && delay >= 40*time.Millisecond {
			exhausted, err := b.exhausted(ctx, p.ref, claim)
			if err != nil {
				return nil, classify(op, name, err)
			}
			if exhausted {
				return nil, metal.Errorf(metal.ErrNoCapacity, op, name, "%s has no free address", p)
			}
		}
		if time.Now().After(deadline) {
			return nil, metal.Errorf(metal.ErrUnavailable, op, name, "IPAM provider did not answer claim %s/%s within %s", claim.Namespace, claim.Name, b.cfg.IPTimeout)
		}
		select {
		case <-ctx.Done():
			return nil, metal.Wrap(metal.ErrUnavailable, op, name, ctx.Err())
		case <-changed:
		case <-time.After(delay):
		}
		if err := b.c.Get(ctx, client.ObjectKeyFromObject(claim), claim); err != nil {
			return nil, classify(op, name, err)
		}
	}
}

// exhausted reports whether the pool has counted no free address while the
// claim has none (no IPAddress named after it, which the provider creates
// before it records the address on the claim).
func (b *Backend) exhausted(ctx context.Context, ref PoolRef, claim *ipamv1.IPAddressClaim) (bool, error) {
	p, err := b.readPool(ctx, ref)
	if err != nil || p.free != 0 {
		return false, err
	}
	err = b.c.Get(ctx, client.ObjectKeyFromObject(claim), &ipamv1.IPAddress{})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return false, err
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
		Network: claim.Labels[LabelNetwork], Address: a, Type: metal.IPType(claim.Labels[LabelIPType]),
	}
	if t := claim.Annotations[AnnotationTags]; t != "" && t != "null" {
		_ = json.Unmarshal([]byte(t), &ip.Tags)
	}
	return ip
}

// FreeIP implements metal.IPs. It returns once the provider has released the
// claim, so that the address is free again; a static IP's address then goes
// back to its network pool. A call that times out waiting is ErrUnavailable,
// and a retry finishes it.
func (b *Backend) FreeIP(ctx context.Context, id string) error {
	if err := b.release(ctx, id); err != nil {
		return err
	}
	return b.releaseStatic(ctx, id)
}

// release deletes a claim and waits until the provider has let go of it.
func (b *Backend) release(ctx context.Context, id string) error {
	claim := &ipamv1.IPAddressClaim{ObjectMeta: metav1.ObjectMeta{Namespace: b.cfg.Namespace, Name: id}}
	if err := b.c.Delete(ctx, claim); err != nil && !apierrors.IsNotFound(err) {
		return classify("free ip", id, err)
	}
	deadline := time.Now().Add(b.cfg.IPTimeout)
	for delay := 5 * time.Millisecond; ; delay = min(delay*2, 200*time.Millisecond) {
		err := b.c.Get(ctx, client.ObjectKeyFromObject(claim), claim)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return classify("free ip", id, err)
		}
		if time.Now().After(deadline) {
			return metal.Errorf(metal.ErrUnavailable, "free ip", id, "IPAM provider did not release claim %s/%s within %s", claim.Namespace, claim.Name, b.cfg.IPTimeout)
		}
		select {
		case <-ctx.Done():
			return metal.Wrap(metal.ErrUnavailable, "free ip", id, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// releaseStatic undoes a static IP's reservation, if id is one: once the
// claim is gone it returns the address to its network pool and deletes the
// one-address pool.
func (b *Backend) releaseStatic(ctx context.Context, id string) error {
	const op = "free ip"
	sp := poolObject(PoolRef{APIGroup: poolGroup, Kind: KindInClusterIPPool, Name: staticPoolName(id)}, b.cfg.Namespace)
	if err := b.c.Get(ctx, client.ObjectKeyFromObject(sp), sp); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return classify(op, id, err)
	}
	parent, addr := sp.GetAnnotations()[AnnotationStaticParent], sp.GetAnnotations()[AnnotationStaticAddress]
	if parent == "" || addr == "" {
		return nil // not a static IP's pool
	}
	if err := b.release(ctx, id); err != nil {
		return err
	}
	kind, name, _ := strings.Cut(parent, "/")
	if _, err := b.setExcluded(ctx, PoolRef{APIGroup: poolGroup, Kind: kind, Name: name}, addr, false); err != nil && !apierrors.IsNotFound(err) {
		return classify(op, id, err)
	}
	if err := b.c.Delete(ctx, sp); err != nil && !apierrors.IsNotFound(err) {
		return classify(op, id, err)
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

// fewClaims is up to how many claims FindIPs reads addresses one by one
// instead of listing every address of the namespace.
const fewClaims = 8

// FindIPs implements metal.IPs. Cluster, network and tags are label
// selectors, answered by the API server; the address is compared here.
func (b *Backend) FindIPs(ctx context.Context, q metal.IPQuery) ([]metal.IP, error) {
	sel := tagLabels(q.Tags)
	if q.Cluster != "" {
		sel[LabelCluster] = q.Cluster
	}
	if q.Network != "" {
		sel[LabelNetwork] = q.Network
	}
	claims := &ipamv1.IPAddressClaimList{}
	if err := b.c.List(ctx, claims, client.InNamespace(b.cfg.Namespace), client.MatchingLabels(sel)); err != nil {
		return nil, classify("find ips", q.Cluster, err)
	}
	bound := claims.Items[:0]
	for _, c := range claims.Items {
		if c.DeletionTimestamp == nil && c.Status.AddressRef.Name != "" {
			bound = append(bound, c)
		}
	}
	addrOf := func(c *ipamv1.IPAddressClaim) (string, error) {
		a := &ipamv1.IPAddress{}
		err := b.c.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Status.AddressRef.Name}, a)
		return a.Spec.Address, client.IgnoreNotFound(err)
	}
	if len(bound) > fewClaims {
		addrs := &ipamv1.IPAddressList{}
		if err := b.c.List(ctx, addrs, client.InNamespace(b.cfg.Namespace)); err != nil {
			return nil, classify("find ips", q.Cluster, err)
		}
		byName := make(map[string]string, len(addrs.Items))
		for _, a := range addrs.Items {
			byName[a.Name] = a.Spec.Address
		}
		addrOf = func(c *ipamv1.IPAddressClaim) (string, error) { return byName[c.Status.AddressRef.Name], nil }
	}
	var out []metal.IP
	for i := range bound {
		c := &bound[i]
		s, err := addrOf(c)
		if err != nil {
			return nil, classify("find ips", q.Cluster, err)
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		ip := ipOf(c, a)
		// Hashes select; the tags themselves decide.
		if (q.Address.IsValid() && ip.Address != q.Address) || !metal.MatchTags(ip.Tags, q.Tags) {
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
	if claim.Labels == nil {
		claim.Labels = map[string]string{}
	}
	claim.Annotations[AnnotationTags] = string(raw)
	for k := range claim.Labels {
		if strings.HasPrefix(k, LabelTagPrefix) {
			delete(claim.Labels, k)
		}
	}
	for k, v := range tagLabels(tags) {
		claim.Labels[k] = v
	}
	if err := b.c.Patch(ctx, claim, patch); err != nil {
		return nil, classify("set ip tags", id, err)
	}
	return b.GetIP(ctx, id)
}
