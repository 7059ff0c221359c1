package balancer

import (
	"context"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The methods below give Balancer the method set of k8s.io/cloud-provider's
// LoadBalancer. clusterName (the controller manager's --cluster-name) is not
// used: IPs belong to Config.Cluster, the cluster's name in the backend.

// GetLoadBalancer returns the Service's IPs, and whether it has any.
func (b *Balancer) GetLoadBalancer(ctx context.Context, _ string, svc *corev1.Service) (*corev1.LoadBalancerStatus, bool, error) {
	ips, err := b.Current(ctx, svc)
	if err != nil || len(ips) == 0 {
		return nil, false, err
	}
	addrs := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		addrs = append(addrs, ip.Address)
	}
	return Status(addrs), true, nil
}

// GetLoadBalancerName returns the conventional name derived from the
// Service's UID.
func (b *Balancer) GetLoadBalancerName(_ context.Context, _ string, svc *corev1.Service) string {
	name := "a" + strings.ReplaceAll(string(svc.UID), "-", "")
	if len(name) > 32 {
		name = name[:32]
	}
	return name
}

// EnsureLoadBalancer allocates the Service's IPs and returns its status.
func (b *Balancer) EnsureLoadBalancer(ctx context.Context, _ string, svc *corev1.Service, _ []*corev1.Node) (*corev1.LoadBalancerStatus, error) {
	addrs, err := b.Ensure(ctx, svc)
	if err != nil {
		return nil, err
	}
	return Status(addrs), nil
}

// UpdateLoadBalancer has nothing to do: the announcement configuration follows
// Nodes on its own (package announce).
func (b *Balancer) UpdateLoadBalancer(context.Context, string, *corev1.Service, []*corev1.Node) error {
	return nil
}

// EnsureLoadBalancerDeleted releases the Service's IPs.
func (b *Balancer) EnsureLoadBalancerDeleted(ctx context.Context, _ string, svc *corev1.Service) error {
	return b.Release(ctx, svc)
}
