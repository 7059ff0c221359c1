package infrastructure

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	extensionscontroller "github.com/gardener/gardener/extensions/pkg/controller"
	"github.com/gardener/gardener/extensions/pkg/controller/infrastructure"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	reconcilerutils "github.com/gardener/gardener/pkg/controllerutils/reconciler"
	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/apis/metal/helper"
	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
	"github.com/metalkube/metalkube/components/extension/cloudprovider"
	"github.com/metalkube/metalkube/components/extension/provider"
	"github.com/metalkube/metalkube/shared/metal"
)

// Backend is what the actuator needs from the bare-metal client.
type Backend interface {
	metal.Networks
	metal.IPs
}

// BackendFunc returns the bare-metal backend of one shoot: the backend, its
// credentials, project and namespace come from the shoot (its cloudprovider
// Secret, CloudProfile region and InfrastructureConfig), so that its network
// and egress IPs land where its machines and LoadBalancer IPs do.
type BackendFunc func(ctx context.Context, infra *extensionsv1alpha1.Infrastructure, cluster *extensionscontroller.Cluster, partition string) (Backend, error)

// ShootBackend is the production BackendFunc: a client built from the
// Infrastructure's cloudprovider Secret by cloudprovider.NewBackend, the same
// settings the shoot's ccm and mcm get.
func ShootBackend(c client.Reader, cdc *codec.Codec) BackendFunc {
	return func(ctx context.Context, infra *extensionsv1alpha1.Infrastructure, cluster *extensionscontroller.Cluster, partition string) (Backend, error) {
		ns := infra.Spec.SecretRef.Namespace
		if ns == "" {
			ns = infra.Namespace
		}
		return cloudprovider.NewBackend(ctx, c, cdc, ns, infra.Spec.SecretRef.Name, cluster, partition)
	}
}

// Actuator reconciles Infrastructures. Its contract (gardener's
// infrastructure.Actuator):
//   - Reconcile is idempotent: allocation is keyed by (cluster, name), so a
//     repeated reconcile returns the same network and IPs; egress IPs no
//     longer configured are freed.
//   - Delete frees what the extension allocated (the firewalls, the managed
//     network and all egress IPs tagged with the cluster) and returns only
//     once they are gone.
//   - A firewall (metal-stack) is named by a hash of its spec: a changed
//     spec allocates a new one, and the old one is freed only once the new
//     one's agent reports Ready; until then Reconcile writes the status and
//     asks to be requeued. At rest a cluster has at most one firewall.
//   - Migrate keeps everything in the backend; status.state holds the
//     InfrastructureStatus so that Restore on the new seed adopts the same
//     network and IPs instead of allocating new ones.
type Actuator struct {
	// Client writes the Infrastructure's status.
	Client client.Client
	// Backend returns the shoot's bare-metal backend.
	Backend BackendFunc
	// Codec decodes provider documents.
	Codec *codec.Codec
	// Firewalls reads the firewall agents' status in the shoot.
	Firewalls FirewallReader
}

var _ infrastructure.Actuator = (*Actuator)(nil)

// ClusterName is the backend cluster name of a shoot: its technical ID (the
// seed namespace).
func ClusterName(infra *extensionsv1alpha1.Infrastructure, cluster *extensionscontroller.Cluster) string {
	if cluster != nil && cluster.Shoot != nil && cluster.Shoot.Status.TechnicalID != "" {
		return cluster.Shoot.Status.TechnicalID
	}
	return infra.Namespace
}

// Reconcile allocates the network and egress IPs and writes the status.
func (a *Actuator) Reconcile(ctx context.Context, log logr.Logger, infra *extensionsv1alpha1.Infrastructure, cluster *extensionscontroller.Cluster) error {
	cfg, err := a.Codec.InfrastructureConfig(infra.Spec.ProviderConfig)
	if err != nil {
		return err
	}
	prev, err := a.previousStatus(infra)
	if err != nil {
		return err
	}
	name := ClusterName(infra, cluster)
	st := &v1alpha1.InfrastructureStatus{Partition: a.partition(cfg, infra, cluster)}
	if cfg.Networks != nil {
		st.ExternalNetworks = slices.Clone(cfg.Networks.External)
	}
	be, err := a.backend(ctx, infra, cluster, st.Partition)
	if err != nil {
		return err
	}
	if err := a.reconcileNetwork(ctx, log, be, cfg, name, prev, st); err != nil {
		return err
	}
	if err := a.reconcileEgress(ctx, log, be, cfg, name, st); err != nil {
		return err
	}
	fwErr := a.reconcileFirewall(ctx, log, be, cfg, infra, cluster, name, st)
	var pending *firewallPending
	if fwErr != nil && !errors.As(fwErr, &pending) {
		return fwErr
	}
	if err := a.writeStatus(ctx, infra, cluster, st); err != nil {
		return err
	}
	if pending != nil {
		// The old firewall serves meanwhile; look again soon.
		return &reconcilerutils.RequeueAfterError{RequeueAfter: 5 * time.Second, Cause: pending}
	}
	return nil
}

func (a *Actuator) backend(ctx context.Context, infra *extensionsv1alpha1.Infrastructure, cluster *extensionscontroller.Cluster, partition string) (Backend, error) {
	if a.Backend == nil {
		return nil, errors.New("no bare-metal backend configured")
	}
	be, err := a.Backend(ctx, infra, cluster, partition)
	if err != nil {
		return nil, fmt.Errorf("backend of infrastructure %s/%s: %w", infra.Namespace, infra.Name, err)
	}
	return be, nil
}

func (a *Actuator) previousStatus(infra *extensionsv1alpha1.Infrastructure) (*v1alpha1.InfrastructureStatus, error) {
	raw := infra.Status.ProviderStatus
	if raw == nil {
		raw = infra.Status.State
	}
	if raw == nil {
		return &v1alpha1.InfrastructureStatus{}, nil
	}
	st, err := a.Codec.InfrastructureStatus(raw)
	if err != nil {
		return nil, fmt.Errorf("previous status of infrastructure %s/%s: %w", infra.Namespace, infra.Name, err)
	}
	return st, nil
}

func (a *Actuator) partition(cfg *v1alpha1.InfrastructureConfig, infra *extensionsv1alpha1.Infrastructure, cluster *extensionscontroller.Cluster) string {
	if cluster == nil || cluster.Shoot == nil {
		return helper.ClusterPartition(nil, cfg, infra.Spec.Region, nil)
	}
	var cpc *v1alpha1.CloudProfileConfig
	if cluster.CloudProfile != nil {
		cpc, _ = a.Codec.CloudProfileConfig(cluster.CloudProfile.Spec.ProviderConfig)
	}
	return helper.ClusterPartition(cpc, cfg, infra.Spec.Region, cloudprovider.WorkerZones(cluster))
}

func (a *Actuator) reconcileNetwork(ctx context.Context, log logr.Logger, be Backend, cfg *v1alpha1.InfrastructureConfig, cluster string, prev, st *v1alpha1.InfrastructureStatus) error {
	if cfg.Networks != nil && cfg.Networks.Node != "" {
		st.Network = &v1alpha1.NetworkStatus{ID: cfg.Networks.Node, Name: cfg.Networks.Node}
		return nil
	}
	spec := metal.NetworkSpec{
		Name:      provider.NodeNetworkName,
		Cluster:   cluster,
		Partition: st.Partition,
		Tags:      map[string]string{provider.TagCluster: cluster, provider.TagPurpose: provider.PurposeNodes},
	}
	if cfg.Networks != nil && cfg.Networks.PrefixLength != nil {
		spec.PrefixLength = int(*cfg.Networks.PrefixLength)
	}
	n, err := be.AllocateNetwork(ctx, spec)
	if errors.Is(err, metal.ErrUnsupported) {
		log.V(1).Info("Backend has no network API; using its default network")
		st.NetworksUnsupported = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("allocate node network of cluster %s: %w", cluster, err)
	}
	if prev.Network != nil && prev.Network.Managed && prev.Network.ID != n.ID {
		// The backend handed out a different network than the one recorded:
		// it must not leak, so free the old one.
		log.Info("Freeing superseded node network", "network", prev.Network.ID)
		if err := be.FreeNetwork(ctx, prev.Network.ID); err != nil && !metal.IsNotFound(err) {
			return fmt.Errorf("free superseded network %s: %w", prev.Network.ID, err)
		}
	}
	st.Network = &v1alpha1.NetworkStatus{ID: n.ID, Name: n.Name, Managed: true}
	for _, p := range n.Prefixes {
		st.Network.Prefixes = append(st.Network.Prefixes, p.String())
	}
	return nil
}

func egressName(network string, i int32) string { return fmt.Sprintf("egress-%s-%d", network, i) }

func (a *Actuator) reconcileEgress(ctx context.Context, log logr.Logger, be Backend, cfg *v1alpha1.InfrastructureConfig, cluster string, st *v1alpha1.InfrastructureStatus) error {
	want := map[string]bool{}
	for _, e := range cfg.EgressIPs {
		n := v1alpha1.DefaultEgressIPCount
		if e.Count != nil {
			n = *e.Count
		}
		for i := range n {
			ip, err := be.AllocateIP(ctx, metal.IPSpec{
				Name: egressName(e.Network, i), Cluster: cluster, Network: e.Network, Type: metal.IPStatic,
				Tags: map[string]string{provider.TagCluster: cluster, provider.TagPurpose: provider.PurposeEgress},
			})
			if err != nil {
				return fmt.Errorf("allocate egress IP %d of network %s: %w", i, e.Network, err)
			}
			want[ip.ID] = true
			st.EgressIPs = append(st.EgressIPs, v1alpha1.IPStatus{ID: ip.ID, Network: ip.Network, Address: ip.Address.String()})
		}
	}
	return freeEgress(ctx, log, be, cluster, want)
}

// freeEgress frees the cluster's egress IPs that are not in keep.
func freeEgress(ctx context.Context, log logr.Logger, be Backend, cluster string, keep map[string]bool) error {
	ips, err := be.FindIPs(ctx, metal.IPQuery{Cluster: cluster, Tags: map[string]string{provider.TagPurpose: provider.PurposeEgress}})
	if errors.Is(err, metal.ErrUnsupported) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list egress IPs of cluster %s: %w", cluster, err)
	}
	for _, ip := range ips {
		if keep[ip.ID] {
			continue
		}
		log.Info("Freeing egress IP", "ip", ip.Address.String(), "network", ip.Network)
		if err := be.FreeIP(ctx, ip.ID); err != nil && !metal.IsNotFound(err) {
			return fmt.Errorf("free egress IP %s: %w", ip.ID, err)
		}
	}
	return nil
}

func (a *Actuator) writeStatus(ctx context.Context, infra *extensionsv1alpha1.Infrastructure, cluster *extensionscontroller.Cluster, st *v1alpha1.InfrastructureStatus) error {
	raw, err := codec.Encode(st, v1alpha1.KindInfrastructureStatus)
	if err != nil {
		return err
	}
	networking := &extensionsv1alpha1.InfrastructureStatusNetworking{}
	var nodesCIDR *string
	if st.Network != nil && len(st.Network.Prefixes) > 0 {
		networking.Nodes = slices.Clone(st.Network.Prefixes)
		nodesCIDR = &networking.Nodes[0]
	}
	if cluster != nil && cluster.Shoot != nil && cluster.Shoot.Spec.Networking != nil {
		nw := cluster.Shoot.Spec.Networking
		if len(networking.Nodes) == 0 && nw.Nodes != nil {
			networking.Nodes = []string{*nw.Nodes}
		}
		if nw.Pods != nil {
			networking.Pods = []string{*nw.Pods}
		}
		if nw.Services != nil {
			networking.Services = []string{*nw.Services}
		}
	}
	var egress []string
	for _, ip := range st.EgressIPs {
		if addr, err := netip.ParseAddr(ip.Address); err == nil {
			egress = append(egress, netip.PrefixFrom(addr, addr.BitLen()).String())
		}
	}
	patch := client.MergeFrom(infra.DeepCopy())
	infra.Status.ProviderStatus = raw
	infra.Status.State = raw.DeepCopy()
	infra.Status.Networking = networking
	infra.Status.NodesCIDR = nodesCIDR
	infra.Status.EgressCIDRs = egress
	if err := a.Client.Status().Patch(ctx, infra, patch); err != nil {
		return fmt.Errorf("write status of infrastructure %s/%s: %w", infra.Namespace, infra.Name, err)
	}
	return nil
}

// Delete frees the firewalls (each after checking it is the cluster's), the
// egress IPs and the managed node network.
func (a *Actuator) Delete(ctx context.Context, log logr.Logger, infra *extensionsv1alpha1.Infrastructure, cluster *extensionscontroller.Cluster) error {
	name := ClusterName(infra, cluster)
	prev, err := a.previousStatus(infra)
	if err != nil {
		return err
	}
	partition := prev.Partition
	if partition == "" {
		if cfg, err := a.Codec.InfrastructureConfig(infra.Spec.ProviderConfig); err == nil {
			partition = a.partition(cfg, infra, cluster)
		}
	}
	be, err := a.backend(ctx, infra, cluster, partition)
	if err != nil {
		return err
	}
	if err := a.freeFirewalls(ctx, log, be, infra.Namespace, name, ""); err != nil {
		return err
	}
	if err := freeEgress(ctx, log, be, name, nil); err != nil {
		return err
	}
	nets, err := be.FindNetworks(ctx, name)
	if errors.Is(err, metal.ErrUnsupported) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list networks of cluster %s: %w", name, err)
	}
	for _, n := range nets {
		if n.Tags[provider.TagPurpose] != provider.PurposeNodes && n.Name != provider.NodeNetworkName {
			continue // not ours
		}
		log.Info("Freeing node network", "network", n.ID)
		if err := be.FreeNetwork(ctx, n.ID); err != nil && !metal.IsNotFound(err) {
			return fmt.Errorf("free network %s of cluster %s: %w", n.ID, name, err)
		}
	}
	return nil
}

// ForceDelete is Delete: freeing is already best effort per object and a
// backend that is gone must not block the shoot's deletion forever, so
// errors are logged, not returned.
func (a *Actuator) ForceDelete(ctx context.Context, log logr.Logger, infra *extensionsv1alpha1.Infrastructure, cluster *extensionscontroller.Cluster) error {
	if err := a.Delete(ctx, log, infra, cluster); err != nil {
		log.Error(err, "Force delete: leaving backend objects behind")
	}
	return nil
}

// Migrate keeps the backend objects; status.state already holds them.
func (a *Actuator) Migrate(context.Context, logr.Logger, *extensionsv1alpha1.Infrastructure, *extensionscontroller.Cluster) error {
	return nil
}

// Restore adopts the objects recorded in status.state and reconciles.
func (a *Actuator) Restore(ctx context.Context, log logr.Logger, infra *extensionsv1alpha1.Infrastructure, cluster *extensionscontroller.Cluster) error {
	return a.Reconcile(ctx, log, infra, cluster)
}
