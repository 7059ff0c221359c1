package announce

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	metallbv1beta1 "go.universe.tf/metallb/api/v1beta1"
	metallbv1beta2 "go.universe.tf/metallb/api/v1beta2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Modes.
const (
	ModeMetalLB = "metallb"
	ModeCilium  = "cilium"
	ModeNone    = "none"
)

// Labels on rendered objects.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "metalkube-lb"
	// LabelAdvertise ties Cilium's peer config to the advertisement.
	LabelAdvertise = "lb.metalkube.io/advertise"
	// DefaultASNLabel is the Node label holding the node's ASN.
	DefaultASNLabel = "metal.metalkube.io/asn"
	// DefaultPeerAddressLabel is the Node label overriding the BGP peer address.
	DefaultPeerAddressLabel = "metal.metalkube.io/bgp-peer"
	// DefaultPeerAddress is the routing daemon on the node itself.
	DefaultPeerAddress = "127.0.0.1"
)

// Config says what to render.
type Config struct {
	// Mode is metallb, cilium or none.
	Mode string
	// Namespace of MetalLB's objects.
	Namespace string
	// ASNLabel is the Node label with the node's ASN; Nodes without it get no peer.
	ASNLabel string
	// PeerAddressLabel is the Node label with the node's BGP peer address.
	PeerAddressLabel string
	// PeerAddress is the peer address of Nodes without PeerAddressLabel.
	PeerAddress string
	// PeerASN is the peer's ASN; 0 means the node's own (iBGP to a router on
	// the node).
	PeerASN uint32
	// L2 also renders an L2Advertisement per pool (MetalLB).
	L2 bool
}

// Node is a Node as far as announcements care.
type Node struct {
	Name        string
	ASN         uint32
	PeerAddress string
}

// Input is what the rendered objects describe.
type Input struct {
	// Networks maps a backend network to the LoadBalancer IPs allocated in it.
	Networks map[string][]netip.Addr
	// Nodes that peer.
	Nodes []Node
}

// NodesOf returns the peering Nodes: those with a valid ASN label.
func (c Config) NodesOf(nodes []corev1.Node) []Node {
	var out []Node
	for i := range nodes {
		n := &nodes[i]
		asn, err := strconv.ParseUint(n.Labels[c.ASNLabel], 10, 32)
		if err != nil || asn == 0 {
			continue
		}
		peer := c.PeerAddress
		if p, err := netip.ParseAddr(n.Labels[c.PeerAddressLabel]); err == nil {
			peer = p.String()
		}
		out = append(out, Node{Name: n.Name, ASN: uint32(asn), PeerAddress: peer})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Kinds are the kinds a mode renders (and garbage-collects).
func (c Config) Kinds() []schema.GroupVersionKind {
	switch c.Mode {
	case ModeMetalLB:
		kinds := []schema.GroupVersionKind{
			metallbv1beta1.GroupVersion.WithKind("IPAddressPool"),
			metallbv1beta2.GroupVersion.WithKind("BGPPeer"),
			metallbv1beta1.GroupVersion.WithKind("BGPAdvertisement"),
		}
		return append(kinds, metallbv1beta1.GroupVersion.WithKind("L2Advertisement"))
	case ModeCilium:
		return []schema.GroupVersionKind{
			ciliumGV.WithKind("CiliumLoadBalancerIPPool"),
			ciliumGV.WithKind("CiliumBGPClusterConfig"),
			ciliumGV.WithKind("CiliumBGPPeerConfig"),
			ciliumGV.WithKind("CiliumBGPAdvertisement"),
		}
	}
	return nil
}

// Namespaced reports whether the mode's objects live in Config.Namespace.
func (c Config) Namespaced() bool { return c.Mode == ModeMetalLB }

var ciliumGV = schema.GroupVersion{Group: "cilium.io", Version: "v2"}

// Render returns the objects describing in, sorted by kind and name.
func (c Config) Render(in Input) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	var err error
	switch c.Mode {
	case ModeMetalLB:
		objs, err = c.metalLB(in)
	case ModeCilium:
		objs = c.cilium(in)
	case ModeNone, "":
	default:
		return nil, fmt.Errorf("announce mode %q: want %s, %s or %s", c.Mode, ModeMetalLB, ModeCilium, ModeNone)
	}
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		l := o.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l[LabelManagedBy] = ManagedBy
		o.SetLabels(l)
	}
	sort.SliceStable(objs, func(i, j int) bool {
		if a, b := objs[i].GetKind(), objs[j].GetKind(); a != b {
			return a < b
		}
		return objs[i].GetName() < objs[j].GetName()
	})
	return objs, nil
}

// ObjectName turns a network or node name into an object name.
func ObjectName(prefix, name string) string {
	n := strings.ToLower(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '-'
	}, name))
	out := prefix + "-" + n
	if len(out) > validation.DNS1123SubdomainMaxLength {
		out = out[:validation.DNS1123SubdomainMaxLength]
	}
	return strings.TrimRight(out, "-.")
}

func networks(in Input) []string {
	var out []string
	for n, addrs := range in.Networks {
		if len(addrs) > 0 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func hostPrefix(a netip.Addr) string { return netip.PrefixFrom(a, a.BitLen()).String() }

func sortedPrefixes(addrs []netip.Addr) []string {
	s := slices.Clone(addrs)
	slices.SortFunc(s, func(a, b netip.Addr) int { return a.Compare(b) })
	s = slices.Compact(s)
	out := make([]string, 0, len(s))
	for _, a := range s {
		out = append(out, hostPrefix(a))
	}
	return out
}

func hostnameSelector(node string) metav1.LabelSelector {
	return metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelHostname: node}}
}

func (c Config) metalLB(in Input) ([]*unstructured.Unstructured, error) {
	var typed []runtime.Object
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: c.Namespace} }
	var peers []string
	for _, n := range in.Nodes {
		peerASN := c.PeerASN
		if peerASN == 0 {
			peerASN = n.ASN
		}
		name := ObjectName("metalkube", n.Name)
		peers = append(peers, name)
		typed = append(typed, &metallbv1beta2.BGPPeer{
			TypeMeta:   metav1.TypeMeta{APIVersion: metallbv1beta2.GroupVersion.String(), Kind: "BGPPeer"},
			ObjectMeta: meta(name),
			Spec: metallbv1beta2.BGPPeerSpec{
				MyASN: n.ASN, ASN: peerASN, Address: n.PeerAddress,
				NodeSelectors: []metav1.LabelSelector{hostnameSelector(n.Name)},
			},
		})
	}
	no := false
	for _, network := range networks(in) {
		name := ObjectName("metalkube", network)
		typed = append(typed, &metallbv1beta1.IPAddressPool{
			TypeMeta:   metav1.TypeMeta{APIVersion: metallbv1beta1.GroupVersion.String(), Kind: "IPAddressPool"},
			ObjectMeta: meta(name),
			// autoAssign off: MetalLB must only hand out the address the
			// backend allocated for a Service (which asks for it by annotation).
			Spec: metallbv1beta1.IPAddressPoolSpec{Addresses: sortedPrefixes(in.Networks[network]), AutoAssign: &no},
		})
		typed = append(typed, &metallbv1beta1.BGPAdvertisement{
			TypeMeta:   metav1.TypeMeta{APIVersion: metallbv1beta1.GroupVersion.String(), Kind: "BGPAdvertisement"},
			ObjectMeta: meta(name),
			Spec:       metallbv1beta1.BGPAdvertisementSpec{IPAddressPools: []string{name}, Peers: slices.Clone(peers)},
		})
		if c.L2 {
			typed = append(typed, &metallbv1beta1.L2Advertisement{
				TypeMeta:   metav1.TypeMeta{APIVersion: metallbv1beta1.GroupVersion.String(), Kind: "L2Advertisement"},
				ObjectMeta: meta(name),
				Spec:       metallbv1beta1.L2AdvertisementSpec{IPAddressPools: []string{name}},
			})
		}
	}
	out := make([]*unstructured.Unstructured, 0, len(typed))
	for _, o := range typed {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil, fmt.Errorf("render %T: %w", o, err)
		}
		u := &unstructured.Unstructured{Object: m}
		unstructured.RemoveNestedField(u.Object, "status")
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		out = append(out, u)
	}
	return out, nil
}

func (c Config) cilium(in Input) []*unstructured.Unstructured {
	obj := func(kind, name string, spec map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
		u.SetAPIVersion(ciliumGV.String())
		u.SetKind(kind)
		u.SetName(name)
		return u
	}
	var out []*unstructured.Unstructured
	for _, network := range networks(in) {
		var blocks []any
		for _, p := range sortedPrefixes(in.Networks[network]) {
			blocks = append(blocks, map[string]any{"cidr": p})
		}
		out = append(out, obj("CiliumLoadBalancerIPPool", ObjectName("metalkube", network), map[string]any{"blocks": blocks}))
	}
	for _, n := range in.Nodes {
		peerASN := c.PeerASN
		if peerASN == 0 {
			peerASN = n.ASN
		}
		out = append(out, obj("CiliumBGPClusterConfig", ObjectName("metalkube", n.Name), map[string]any{
			"nodeSelector": map[string]any{"matchLabels": map[string]any{corev1.LabelHostname: n.Name}},
			"bgpInstances": []any{map[string]any{
				"name":     "metalkube",
				"localASN": int64(n.ASN),
				"peers": []any{map[string]any{
					"name":          "router",
					"peerASN":       int64(peerASN),
					"peerAddress":   n.PeerAddress,
					"peerConfigRef": map[string]any{"name": "metalkube"},
				}},
			}},
		}))
	}
	if len(in.Nodes) > 0 {
		adv := map[string]any{"matchLabels": map[string]any{LabelAdvertise: "metalkube"}}
		out = append(out, obj("CiliumBGPPeerConfig", "metalkube", map[string]any{
			"families": []any{
				map[string]any{"afi": "ipv4", "safi": "unicast", "advertisements": adv},
				map[string]any{"afi": "ipv6", "safi": "unicast", "advertisements": adv},
			},
		}))
		a := obj("CiliumBGPAdvertisement", "metalkube", map[string]any{
			"advertisements": []any{map[string]any{
				"advertisementType": "Service",
				"service":           map[string]any{"addresses": []any{"LoadBalancerIP"}},
				// Every Service: LB-IPAM only assigns the pools' addresses.
				"selector": map[string]any{"matchExpressions": []any{map[string]any{"key": "lb.metalkube.io/no-advertise", "operator": "DoesNotExist"}}},
			}},
		})
		a.SetLabels(map[string]string{LabelAdvertise: "metalkube"})
		out = append(out, a)
	}
	return out
}

// ServiceAnnotation is the annotation through which the mode's announcer is
// told a Service's address; empty for none.
func (c Config) ServiceAnnotation() string {
	switch c.Mode {
	case ModeMetalLB:
		return "metallb.io/loadBalancerIPs"
	case ModeCilium:
		return "lbipam.cilium.io/ips"
	}
	return ""
}
