package balancer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/metalkube/metalkube/shared/metal"
)

// Annotations and tags.
const (
	// AnnotationIPs asks for specific addresses (comma-separated); it wins
	// over spec.loadBalancerIP.
	AnnotationIPs = "lb.metalkube.io/ips"
	// AnnotationNetwork picks the backend network of the Service's IPs: the
	// configured network or one of Config.AdditionalNetworks, nothing else.
	AnnotationNetwork = "lb.metalkube.io/network"
	// AnnotationAllowSharedIP lets Services share a static IP, as MetalLB's
	// metallb.universe.tf/allow-shared-ip does: every Service on the address
	// must carry the same key. Without it an address in use is refused.
	AnnotationAllowSharedIP = "lb.metalkube.io/allow-shared-ip"
	// TagShareKey records on an IP the share key of the Services using it.
	TagShareKey = "lb.metalkube.io/share-key"
	// TagServicePrefix + "<namespace>/<name>" tags an IP with a Service using
	// it; the value is the Service's cluster (metal.TagServicePrefix; the
	// metal-stack backend stores it as metal-ccm's Service tag).
	TagServicePrefix = metal.TagServicePrefix
	// TagManaged marks IPs metalkube allocated.
	TagManaged = "lb.metalkube.io/managed"
	tagTrue    = "true"
)

// Config configures a Balancer.
type Config struct {
	// Cluster owns the IPs in the backend.
	Cluster string
	// IPs is the backend.
	IPs metal.IPs
	// Network is the backend network of IPv4 (and default) addresses.
	Network string
	// Network6 is the network of IPv6 addresses; empty means Network.
	Network6 string
	// AdditionalNetworks may be chosen per Service with AnnotationNetwork,
	// besides Network and Network6.
	AdditionalNetworks []string
}

// Balancer allocates and frees Service IPs. It is safe for concurrent use;
// IPs shared between Services are changed under a per-address lock.
type Balancer struct {
	cfg   Config
	mu    sync.Mutex
	locks map[netip.Addr]*sync.Mutex
}

// New returns a Balancer.
func New(cfg Config) (*Balancer, error) {
	if cfg.IPs == nil || cfg.Cluster == "" || cfg.Network == "" {
		return nil, errors.New("load balancer: backend, cluster and network are required")
	}
	if cfg.Network6 == "" {
		cfg.Network6 = cfg.Network
	}
	return &Balancer{cfg: cfg, locks: map[netip.Addr]*sync.Mutex{}}, nil
}

// lock locks an address and returns its unlock.
func (b *Balancer) lock(a netip.Addr) func() {
	b.mu.Lock()
	l, ok := b.locks[a]
	if !ok {
		l = &sync.Mutex{}
		b.locks[a] = l
	}
	b.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// ServiceTag is the tag key marking an IP as used by the Service.
func ServiceTag(namespace, name string) string { return metal.ServiceTag(namespace, name) }

// Services returns the Services ("namespace/name") an IP is tagged with.
func Services(ip *metal.IP) []string {
	var out []string
	for k := range ip.Tags {
		if s, ok := strings.CutPrefix(k, TagServicePrefix); ok {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// Requested returns the addresses a Service asks for, nil for ephemeral IPs.
func Requested(svc *corev1.Service) ([]netip.Addr, error) {
	raw := svc.Annotations[AnnotationIPs]
	src := "annotation " + AnnotationIPs
	if raw == "" {
		raw, src = svc.Spec.LoadBalancerIP, "spec.loadBalancerIP"
	}
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	var out []netip.Addr
	for _, s := range strings.Split(raw, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return nil, invalid("%s: %q is not an IP address", src, s)
		}
		if slices.ContainsFunc(out, func(x netip.Addr) bool { return x.Is4() == a.Is4() }) {
			return nil, invalid("%s: %q asks for two addresses of one family", src, raw)
		}
		out = append(out, a.Unmap())
	}
	return out, nil
}

// InputError is a request that cannot succeed as it stands: an address that
// does not parse, lies outside the network's pools or is used elsewhere.
// Retrying it does not help until the Service changes.
type InputError struct{ msg string }

func (e *InputError) Error() string { return e.msg }

func invalid(format string, args ...any) error { return &InputError{msg: fmt.Sprintf(format, args...)} }

// IsInputError reports whether err is an InputError.
func IsInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}

// network returns the backend network of the Service's addresses of a
// family; a network the cluster is not configured for is an InputError.
func (b *Balancer) network(svc *corev1.Service, v6 bool) (string, error) {
	if n := svc.Annotations[AnnotationNetwork]; n != "" {
		if n != b.cfg.Network && n != b.cfg.Network6 && !slices.Contains(b.cfg.AdditionalNetworks, n) {
			return "", invalid("annotation %s: network %q is not one this cluster may take IPs from (%s)", AnnotationNetwork, n, strings.Join(b.networks(), ", "))
		}
		return n, nil
	}
	if v6 {
		return b.cfg.Network6, nil
	}
	return b.cfg.Network, nil
}

// networks lists the networks Services may take IPs from.
func (b *Balancer) networks() []string {
	out := []string{b.cfg.Network}
	if b.cfg.Network6 != b.cfg.Network {
		out = append(out, b.cfg.Network6)
	}
	return append(out, b.cfg.AdditionalNetworks...)
}

// Current returns the IPs tagged with the Service.
func (b *Balancer) Current(ctx context.Context, svc *corev1.Service) ([]metal.IP, error) {
	ips, err := b.cfg.IPs.FindIPs(ctx, metal.IPQuery{Cluster: b.cfg.Cluster, Tags: map[string]string{ServiceTag(svc.Namespace, svc.Name): b.cfg.Cluster}})
	if err != nil {
		return nil, fmt.Errorf("find IPs of service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return ips, nil
}

// Ensure makes sure the Service has its IPs and returns their addresses,
// IPv4 first.
func (b *Balancer) Ensure(ctx context.Context, svc *corev1.Service) ([]netip.Addr, error) {
	want, err := Requested(svc)
	if err != nil {
		return nil, err
	}
	current, err := b.Current(ctx, svc)
	if err != nil {
		return nil, err
	}
	var keep []metal.IP
	if want != nil {
		for _, a := range want {
			ip, err := b.ensureStatic(ctx, svc, a, current)
			if err != nil {
				return nil, err
			}
			keep = append(keep, *ip)
		}
	} else {
		for _, fam := range families(svc) {
			ip, err := b.ensureEphemeral(ctx, svc, fam, current)
			if err != nil {
				return nil, err
			}
			keep = append(keep, *ip)
		}
	}
	// Let go of what the Service no longer asks for.
	for i := range current {
		if !slices.ContainsFunc(keep, func(k metal.IP) bool { return k.ID == current[i].ID }) {
			if err := b.untag(ctx, svc, current[i]); err != nil {
				return nil, err
			}
		}
	}
	out := make([]netip.Addr, 0, len(keep))
	for _, ip := range keep {
		out = append(out, ip.Address)
	}
	slices.SortFunc(out, func(x, y netip.Addr) int { return x.Compare(y) })
	return out, nil
}

func families(svc *corev1.Service) []corev1.IPFamily {
	if len(svc.Spec.IPFamilies) == 0 {
		return []corev1.IPFamily{corev1.IPv4Protocol}
	}
	return svc.Spec.IPFamilies
}

// ephemeralName is the backend name of a Service's ephemeral IP of a family:
// readable, and unambiguous through a hash of namespace and name.
func ephemeralName(svc *corev1.Service, fam corev1.IPFamily) string {
	sum := sha256.Sum256([]byte(svc.Namespace + "/" + svc.Name))
	f := "v4"
	if fam == corev1.IPv6Protocol {
		f = "v6"
	}
	base := svc.Namespace + "-" + svc.Name
	if len(base) > 80 {
		base = base[:80]
	}
	return "svc-" + strings.Trim(base, "-.") + "-" + hex.EncodeToString(sum[:4]) + "-" + f
}

// staticName is the backend name of a static IP allocated for an address.
func staticName(a netip.Addr) string {
	return "static-" + strings.Trim(strings.NewReplacer(".", "-", ":", "-").Replace(a.String()), "-")
}

func (b *Balancer) ensureEphemeral(ctx context.Context, svc *corev1.Service, fam corev1.IPFamily, current []metal.IP) (*metal.IP, error) {
	v6 := fam == corev1.IPv6Protocol
	for i := range current {
		if current[i].Type != metal.IPStatic && current[i].Address.Is6() == v6 {
			return &current[i], nil
		}
	}
	family := 4
	if v6 {
		family = 6
	}
	network, err := b.network(svc, v6)
	if err != nil {
		return nil, err
	}
	ip, err := b.cfg.IPs.AllocateIP(ctx, metal.IPSpec{
		Name: ephemeralName(svc, fam), Cluster: b.cfg.Cluster, Network: network, Type: metal.IPEphemeral, Family: family,
		Tags: map[string]string{TagManaged: tagTrue, ServiceTag(svc.Namespace, svc.Name): b.cfg.Cluster},
	})
	if err != nil {
		return nil, b.explain(err, fmt.Sprintf("allocate an %s address in network %s", fam, network))
	}
	return ip, nil
}

// ensureStatic gives the Service the address a. An IP of the project that
// holds the address is used as metal-ccm uses it (spec.loadBalancerIP),
// whether it carries a cluster or not: it is tagged with the Service. An
// IP of another cluster, or the ephemeral IP of another Service, is
// refused, and so is an egress IP. An IP another Service of the cluster uses
// is shared only when both carry the same AnnotationAllowSharedIP key.
// Otherwise a static IP is allocated for the address.
func (b *Balancer) ensureStatic(ctx context.Context, svc *corev1.Service, a netip.Addr, current []metal.IP) (*metal.IP, error) {
	for i := range current {
		if current[i].Address == a {
			return &current[i], nil
		}
	}
	defer b.lock(a)()
	tag := ServiceTag(svc.Namespace, svc.Name)
	found, err := b.cfg.IPs.FindIPs(ctx, metal.IPQuery{Address: a})
	if err != nil {
		return nil, fmt.Errorf("find IP %s: %w", a, err)
	}
	if len(found) > 0 {
		ip := found[0]
		if ip.Cluster != "" && ip.Cluster != b.cfg.Cluster {
			return nil, invalid("address %s is already used by cluster %s, not %s", a, ip.Cluster, b.cfg.Cluster)
		}
		if users := Services(&ip); ip.Type == metal.IPEphemeral && len(users) > 0 {
			return nil, invalid("address %s is the ephemeral IP of service %s; only static IPs can be shared", a, strings.Join(users, ", "))
		}
		got, err := b.updateTags(ctx, ip, func(tags map[string]string) error { return b.join(svc, a, tags) })
		if err != nil {
			return nil, b.explain(err, fmt.Sprintf("tag IP %s with service %s/%s", a, svc.Namespace, svc.Name))
		}
		return got, nil
	}
	network, err := b.network(svc, a.Is6())
	if err != nil {
		return nil, err
	}
	tags := map[string]string{TagManaged: tagTrue, tag: b.cfg.Cluster}
	if key := svc.Annotations[AnnotationAllowSharedIP]; key != "" {
		tags[TagShareKey] = key
	}
	ip, err := b.cfg.IPs.AllocateIP(ctx, metal.IPSpec{
		Name: staticName(a), Cluster: b.cfg.Cluster, Network: network, Type: metal.IPStatic, Address: a, Tags: tags,
	})
	if err != nil {
		return nil, b.explain(err, fmt.Sprintf("allocate address %s in network %s", a, network))
	}
	if _, ok := ip.Tags[tag]; !ok { // allocated before under the same name
		if ip, err = b.updateTags(ctx, *ip, func(tags map[string]string) error { return b.join(svc, a, tags) }); err != nil {
			return nil, b.explain(err, fmt.Sprintf("tag IP %s with service %s/%s", a, svc.Namespace, svc.Name))
		}
	}
	return ip, nil
}

// join adds the Service to the tags of the IP holding address a, as read
// under the IP's lock: never an egress IP, and an IP other Services use only
// with their share key.
func (b *Balancer) join(svc *corev1.Service, a netip.Addr, tags map[string]string) error {
	if tags[metal.TagPurpose] == metal.PurposeEgress {
		return invalid("address %s is an egress IP of the cluster; it is never handed to a Service", a)
	}
	self := svc.Namespace + "/" + svc.Name
	others := slices.DeleteFunc(Services(&metal.IP{Tags: tags}), func(s string) bool { return s == self })
	key := svc.Annotations[AnnotationAllowSharedIP]
	switch {
	case len(others) == 0 && key != "":
		tags[TagShareKey] = key
	case len(others) == 0:
		delete(tags, TagShareKey)
	case key == "" || tags[TagShareKey] != key:
		return invalid("address %s is used by service %s; to share it, every Service on it needs the same annotation %s (this Service has %q, the address %q)",
			a, strings.Join(others, ", "), AnnotationAllowSharedIP, key, tags[TagShareKey])
	}
	tags[ServiceTag(svc.Namespace, svc.Name)] = b.cfg.Cluster
	return nil
}

// updateTags changes an IP's tags with change: atomically in the backend
// where it offers metal.IPTagUpdater (re-read and written under its per-IP
// lock), else from ip's tags as read.
func (b *Balancer) updateTags(ctx context.Context, ip metal.IP, change func(tags map[string]string) error) (*metal.IP, error) {
	apply := func(tags map[string]string) (map[string]string, error) {
		if tags == nil {
			tags = map[string]string{}
		}
		return tags, change(tags)
	}
	if u, ok := b.cfg.IPs.(metal.IPTagUpdater); ok {
		return u.UpdateIPTags(ctx, ip.ID, apply)
	}
	tags, err := apply(maps.Clone(ip.Tags))
	if err != nil {
		return nil, err
	}
	return b.cfg.IPs.SetIPTags(ctx, ip.ID, tags)
}

// explain turns a backend refusal into an InputError that says what to fix;
// other errors (outage) are wrapped as they are.
func (b *Balancer) explain(err error, what string) error {
	switch {
	case errors.Is(err, metal.ErrConflict):
		return invalid("cannot %s: the address is already used by another allocation (%v)", what, err)
	case errors.Is(err, metal.ErrInvalid):
		return invalid("cannot %s: the address is not in the network's IP pools, is used by a machine or for egress, or the request is invalid (%v)", what, err)
	case errors.Is(err, metal.ErrNoCapacity):
		return fmt.Errorf("cannot %s: no free address left: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Release removes the Service from its IPs and frees the ephemeral ones no
// Service uses any more. Static IPs are never freed: like metal-ccm,
// metalkube keeps them for the next Service that asks for the address.
func (b *Balancer) Release(ctx context.Context, svc *corev1.Service) error {
	current, err := b.Current(ctx, svc)
	if err != nil {
		return err
	}
	for _, ip := range current {
		if err := b.untag(ctx, svc, ip); err != nil {
			return err
		}
	}
	return nil
}

// untag removes the Service's tag from ip, freeing ip if it is ephemeral,
// no other Service uses it and nothing else is recorded on it (metalkube
// allocated it, or it carries no tags but Service tags, as metal-ccm's
// ephemeral IPs: metal-ccm frees those when the last tag goes).
func (b *Balancer) untag(ctx context.Context, svc *corev1.Service, ip metal.IP) error {
	defer b.lock(ip.Address)()
	fresh, err := b.cfg.IPs.GetIP(ctx, ip.ID)
	switch {
	case metal.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("release IP %s of service %s/%s: %w", ip.Address, svc.Namespace, svc.Name, err)
	}
	tag := ServiceTag(svc.Namespace, svc.Name)
	if _, ok := fresh.Tags[tag]; ok {
		if fresh, err = b.updateTags(ctx, *fresh, func(tags map[string]string) error {
			delete(tags, tag)
			if len(Services(&metal.IP{Tags: tags})) == 0 {
				delete(tags, TagShareKey)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("untag IP %s from service %s/%s: %w", ip.Address, svc.Namespace, svc.Name, err)
		}
	}
	rest := maps.Clone(fresh.Tags)
	delete(rest, TagManaged)
	if fresh.Type == metal.IPEphemeral && len(Services(fresh)) == 0 && (fresh.Tags[TagManaged] == tagTrue || len(rest) == 0) {
		if err := b.cfg.IPs.FreeIP(ctx, fresh.ID); err != nil {
			return fmt.Errorf("free IP %s of service %s/%s: %w", ip.Address, svc.Namespace, svc.Name, err)
		}
	}
	return nil
}

// Status returns the load-balancer status of addresses.
func Status(addrs []netip.Addr) *corev1.LoadBalancerStatus {
	st := &corev1.LoadBalancerStatus{}
	vip := corev1.LoadBalancerIPModeVIP
	for _, a := range addrs {
		st.Ingress = append(st.Ingress, corev1.LoadBalancerIngress{IP: a.String(), IPMode: &vip})
	}
	return st
}
