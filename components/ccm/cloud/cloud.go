package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	cloudprovider "k8s.io/cloud-provider"

	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/providerid"
)

// ProviderName is the cloud provider's name (--cloud-provider).
const ProviderName = providerid.Scheme

// Config configures the provider.
type Config struct {
	// Cluster is the cluster's name in the backend: machines are listed by it.
	Cluster string
	// Machines reads the cluster's machines.
	Machines metal.MachineReader
	// CacheTTL is how long a machine list is reused; 0 disables the cache.
	CacheTTL time.Duration
	// LabelPrefixes select the machine labels and tags copied onto Nodes as
	// additional labels (keys starting with one of them); none copies nothing.
	LabelPrefixes []string
	// LoadBalancer serves Services of type LoadBalancer; nil disables it.
	LoadBalancer cloudprovider.LoadBalancer
}

// Cloud is the provider.
type Cloud struct {
	cfg   Config
	cache *MachineCache
}

var (
	_ cloudprovider.Interface   = (*Cloud)(nil)
	_ cloudprovider.InstancesV2 = (*Cloud)(nil)
	_ cloudprovider.Zones       = (*Cloud)(nil)
)

// New returns the provider.
func New(cfg Config) (*Cloud, error) {
	if cfg.Machines == nil {
		return nil, errors.New("cloud provider: no backend")
	}
	if cfg.Cluster == "" {
		return nil, errors.New("cloud provider: no cluster name")
	}
	return &Cloud{cfg: cfg, cache: NewMachineCache(cfg.Machines, cfg.Cluster, cfg.CacheTTL)}, nil
}

// Machines returns the provider's machine cache (shared with metalkube's extra
// controllers, so they add no backend calls of their own).
func (c *Cloud) Machines() *MachineCache { return c.cache }

// Initialize implements cloudprovider.Interface; there is nothing to start.
func (c *Cloud) Initialize(cloudprovider.ControllerClientBuilder, <-chan struct{}) {}

// LoadBalancer implements cloudprovider.Interface.
func (c *Cloud) LoadBalancer() (cloudprovider.LoadBalancer, bool) {
	return c.cfg.LoadBalancer, c.cfg.LoadBalancer != nil
}

// Instances implements cloudprovider.Interface: the legacy interface is absent.
func (c *Cloud) Instances() (cloudprovider.Instances, bool) { return nil, false }

// InstancesV2 implements cloudprovider.Interface.
func (c *Cloud) InstancesV2() (cloudprovider.InstancesV2, bool) { return c, true }

// Zones implements cloudprovider.Interface.
func (c *Cloud) Zones() (cloudprovider.Zones, bool) { return c, true }

// Clusters implements cloudprovider.Interface: absent.
func (c *Cloud) Clusters() (cloudprovider.Clusters, bool) { return nil, false }

// Routes implements cloudprovider.Interface: absent (the CNI routes pods).
func (c *Cloud) Routes() (cloudprovider.Routes, bool) { return nil, false }

// ProviderName implements cloudprovider.Interface.
func (c *Cloud) ProviderName() string { return ProviderName }

// HasClusterID implements cloudprovider.Interface.
func (c *Cloud) HasClusterID() bool { return true }

// InstanceExists implements cloudprovider.InstancesV2. A lost machine does not
// exist; a backend error is an error (the Node is kept).
func (c *Cloud) InstanceExists(ctx context.Context, node *corev1.Node) (bool, error) {
	m, err := c.cache.Find(ctx, node)
	if err != nil {
		return false, err
	}
	return m != nil && m.State != metal.MachineLost, nil
}

// InstanceShutdown implements cloudprovider.InstancesV2: a machine whose server
// is powered off is shut down.
func (c *Cloud) InstanceShutdown(ctx context.Context, node *corev1.Node) (bool, error) {
	m, err := c.cache.Find(ctx, node)
	if err != nil {
		return false, err
	}
	if m == nil {
		return false, cloudprovider.InstanceNotFound
	}
	return m.State == metal.MachineAllocated && !m.PoweredOn, nil
}

// InstanceMetadata implements cloudprovider.InstancesV2.
func (c *Cloud) InstanceMetadata(ctx context.Context, node *corev1.Node) (*cloudprovider.InstanceMetadata, error) {
	m, err := c.cache.Find(ctx, node)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("node %s: %w in cluster %s (provider ID %q, system UUID %q)", node.Name, cloudprovider.InstanceNotFound,
			c.cfg.Cluster, node.Spec.ProviderID, node.Status.NodeInfo.SystemUUID)
	}
	return &cloudprovider.InstanceMetadata{
		ProviderID:       m.ProviderID,
		InstanceType:     m.Size,
		NodeAddresses:    NodeAddresses(m),
		Zone:             m.Partition,
		Region:           m.Region,
		AdditionalLabels: AdditionalLabels(m, c.cfg.LabelPrefixes),
	}, nil
}

// NodeAddresses returns a machine's addresses as Node addresses, IPv4 before
// IPv6 within each type, so that the first InternalIP is the node IP of a
// dual-stack node's primary family.
func NodeAddresses(m *metal.Machine) []corev1.NodeAddress {
	var v4, v6, other []corev1.NodeAddress
	for _, a := range m.Addresses {
		na := corev1.NodeAddress{Type: corev1.NodeAddressType(a.Type), Address: a.Address}
		ip, err := netip.ParseAddr(a.Address)
		switch {
		case err != nil:
			other = append(other, na)
		case ip.Is4():
			v4 = append(v4, na)
		default:
			v6 = append(v6, na)
		}
	}
	return append(append(v4, v6...), other...)
}

// AdditionalLabels returns the machine's labels and tags whose keys start with
// one of prefixes and which are valid label keys and values; tags win over
// labels.
func AdditionalLabels(m *metal.Machine, prefixes []string) map[string]string {
	if len(prefixes) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, src := range []map[string]string{m.Labels, m.Tags} {
		for k, v := range src {
			if !hasPrefix(k, prefixes) || len(validation.IsQualifiedName(k)) > 0 || len(validation.IsValidLabelValue(v)) > 0 {
				continue
			}
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func hasPrefix(k string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// GetZone implements cloudprovider.Zones. The controller manager does not run
// on a machine it knows, so it has no zone of its own.
func (c *Cloud) GetZone(context.Context) (cloudprovider.Zone, error) {
	return cloudprovider.Zone{}, cloudprovider.NotImplemented
}

// GetZoneByProviderID implements cloudprovider.Zones.
func (c *Cloud) GetZoneByProviderID(ctx context.Context, providerID string) (cloudprovider.Zone, error) {
	return c.zone(ctx, &corev1.Node{Spec: corev1.NodeSpec{ProviderID: providerID}})
}

// GetZoneByNodeName implements cloudprovider.Zones.
func (c *Cloud) GetZoneByNodeName(ctx context.Context, name types.NodeName) (cloudprovider.Zone, error) {
	return c.zone(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: string(name)}})
}

func (c *Cloud) zone(ctx context.Context, node *corev1.Node) (cloudprovider.Zone, error) {
	m, err := c.cache.Find(ctx, node)
	if err != nil {
		return cloudprovider.Zone{}, err
	}
	if m == nil {
		return cloudprovider.Zone{}, cloudprovider.InstanceNotFound
	}
	return cloudprovider.Zone{FailureDomain: m.Partition, Region: m.Region}, nil
}
