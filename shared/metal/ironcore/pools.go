package ironcore

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Kinds of the in-cluster IPAM provider's pools.
const (
	KindInClusterIPPool       = "InClusterIPPool"
	KindGlobalInClusterIPPool = "GlobalInClusterIPPool"
	// poolVersion is the version of the in-cluster provider's pool API.
	poolVersion = "v1alpha2"
)

// pool is what the backend reads from an IPAM pool: its family, the
// addresses it hands out, and how many are free (-1: not yet counted).
type pool struct {
	ref       PoolRef
	namespace string // "" for a cluster-wide pool
	family    int
	prefix    int64
	gateway   string
	entries   []string // spec.addresses: address, CIDR or first-last range
	excluded  []string
	free      int64
	obj       *unstructured.Unstructured
}

func poolObject(ref PoolRef, namespace string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: ref.APIGroup, Version: poolVersion, Kind: ref.Kind})
	if ref.Kind != KindGlobalInClusterIPPool {
		u.SetNamespace(namespace)
	}
	u.SetName(ref.Name)
	return u
}

// readPool reads a pool of the in-cluster IPAM provider.
func (b *Backend) readPool(ctx context.Context, ref PoolRef) (*pool, error) {
	if ref.APIGroup != poolGroup || (ref.Kind != KindInClusterIPPool && ref.Kind != KindGlobalInClusterIPPool) {
		return nil, fmt.Errorf("pool %s/%s.%s: only the in-cluster IPAM provider's %s and %s are supported", ref.Kind, ref.Name, ref.APIGroup, KindInClusterIPPool, KindGlobalInClusterIPPool)
	}
	u := poolObject(ref, b.cfg.Namespace)
	if err := b.c.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
		return nil, err
	}
	p := &pool{ref: ref, namespace: u.GetNamespace(), free: -1, obj: u}
	p.entries, _, _ = unstructured.NestedStringSlice(u.Object, "spec", "addresses")
	p.excluded, _, _ = unstructured.NestedStringSlice(u.Object, "spec", "excludedAddresses")
	p.prefix, _, _ = unstructured.NestedInt64(u.Object, "spec", "prefix")
	p.gateway, _, _ = unstructured.NestedString(u.Object, "spec", "gateway")
	if free, ok, _ := unstructured.NestedInt64(u.Object, "status", "ipAddresses", "free"); ok {
		p.free = free
	}
	if len(p.entries) == 0 {
		return nil, fmt.Errorf("pool %s %s has no addresses", ref.Kind, ref.Name)
	}
	first, _, _ := strings.Cut(p.entries[0], "/")
	first, _, _ = strings.Cut(first, "-")
	a, err := netip.ParseAddr(strings.TrimSpace(first))
	if err != nil {
		return nil, fmt.Errorf("pool %s %s: address %q: %w", ref.Kind, ref.Name, p.entries[0], err)
	}
	p.family = family(a)
	return p, nil
}

func family(a netip.Addr) int {
	if a.Unmap().Is4() {
		return 4
	}
	return 6
}

// contains reports whether the pool hands out a (ignoring exclusions).
func (p *pool) contains(a netip.Addr) bool {
	return slices.ContainsFunc(p.entries, func(e string) bool { return entryContains(e, a) })
}

// entryContains reports whether a pool address entry (an address, a CIDR or
// a first-last range) contains a.
func entryContains(e string, a netip.Addr) bool {
	e = strings.TrimSpace(e)
	if first, last, ok := strings.Cut(e, "-"); ok {
		f, err1 := netip.ParseAddr(strings.TrimSpace(first))
		l, err2 := netip.ParseAddr(strings.TrimSpace(last))
		return err1 == nil && err2 == nil && f.BitLen() == a.BitLen() && f.Compare(a) <= 0 && a.Compare(l) <= 0
	}
	if strings.Contains(e, "/") {
		p, err := netip.ParsePrefix(e)
		return err == nil && p.Contains(a)
	}
	x, err := netip.ParseAddr(e)
	return err == nil && x == a
}

// excludes reports whether the pool's excludedAddresses cover a.
func (p *pool) excludes(a netip.Addr) bool {
	return slices.ContainsFunc(p.excluded, func(e string) bool { return entryContains(e, a) })
}

// String names the pool in errors.
func (p *pool) String() string { return p.ref.Kind + " " + p.ref.Name }
