package podcidr

import (
	"context"
	"fmt"
	"math/big"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Family maps one IP family's node network onto its pod network.
type Family struct {
	// NodeNetwork holds the nodes' InternalIPs.
	NodeNetwork netip.Prefix
	// ClusterCIDR is the cluster's pod network.
	ClusterCIDR netip.Prefix
	// MaskSize is the prefix length of a node's pod CIDR.
	MaskSize int
}

// PodCIDRFor returns the pod CIDR of a node IP: the node's offset in the node
// network selects the block with the same index in the cluster CIDR.
func (f Family) PodCIDRFor(ip netip.Addr) (netip.Prefix, error) {
	if !f.NodeNetwork.Contains(ip) {
		return netip.Prefix{}, fmt.Errorf("node IP %s is outside the node network %s", ip, f.NodeNetwork)
	}
	if f.MaskSize < f.ClusterCIDR.Bits() || f.MaskSize > ip.BitLen() {
		return netip.Prefix{}, fmt.Errorf("pod CIDR mask /%d does not fit cluster CIDR %s", f.MaskSize, f.ClusterCIDR)
	}
	off := new(big.Int).Sub(toInt(ip), toInt(f.NodeNetwork.Masked().Addr()))
	blocks := new(big.Int).Lsh(big.NewInt(1), uint(f.MaskSize-f.ClusterCIDR.Bits()))
	if off.Cmp(blocks) >= 0 {
		return netip.Prefix{}, fmt.Errorf("node IP %s is node number %s, but cluster CIDR %s has only %s /%d blocks", ip, off, f.ClusterCIDR, blocks, f.MaskSize)
	}
	base := new(big.Int).Add(toInt(f.ClusterCIDR.Masked().Addr()), new(big.Int).Lsh(off, uint(ip.BitLen()-f.MaskSize)))
	return netip.PrefixFrom(fromInt(base, ip.Is4()), f.MaskSize), nil
}

func toInt(a netip.Addr) *big.Int {
	b := a.AsSlice()
	return new(big.Int).SetBytes(b)
}

func fromInt(i *big.Int, v4 bool) netip.Addr {
	n := 16
	if v4 {
		n = 4
	}
	b := i.FillBytes(make([]byte, n))
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Reconciler sets the pod CIDRs of Nodes that have none.
type Reconciler struct {
	Client   client.Client
	Families []Family
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	node := &corev1.Node{}
	if err := r.Client.Get(ctx, req.NamespacedName, node); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if node.Spec.PodCIDR != "" { // immutable once set
		return reconcile.Result{}, nil
	}
	var cidrs []string
	for _, f := range r.Families {
		for _, a := range node.Status.Addresses {
			ip, err := netip.ParseAddr(a.Address)
			if a.Type != corev1.NodeInternalIP || err != nil || !f.NodeNetwork.Contains(ip) {
				continue
			}
			p, err := f.PodCIDRFor(ip)
			if err != nil {
				ctrl.LoggerFrom(ctx).Error(err, "no pod CIDR for node", "node", node.Name)
				return reconcile.Result{}, nil
			}
			cidrs = append(cidrs, p.String())
			break
		}
	}
	if len(cidrs) == 0 {
		return reconcile.Result{}, nil // no InternalIP yet; the status update brings it back
	}
	patch := client.MergeFrom(node.DeepCopy())
	node.Spec.PodCIDR, node.Spec.PodCIDRs = cidrs[0], cidrs
	return reconcile.Result{}, r.Client.Patch(ctx, node, patch)
}
