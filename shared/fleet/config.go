package fleet

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/metalkube/metalkube/shared/metal/ironcore"
)

// Config configures the fleet's servers.
type Config struct {
	// Servers is how many Servers to create; their names are "<Prefix>-000"...
	Servers int
	// Prefix of the server names; default "server".
	Prefix string
	// Sizes are assigned round-robin; default ["c1-large"].
	Sizes []string
	// Zones are assigned round-robin; default ["zone-a", "zone-b"].
	Zones []string
	// Region of every server; default "region-1".
	Region string
	// NodeNetwork is where servers' internal IPs come from; default 10.0.0.0/16.
	// IPv6 addresses from NodeNetwork6 are added when it is set (dual stack).
	NodeNetwork  netip.Prefix
	NodeNetwork6 netip.Prefix
	// ExtraLabels are put on every server.
	ExtraLabels map[string]string
	// RegisterNodes makes booted servers register Nodes (in the cluster of the
	// node client given to New).
	RegisterNodes bool
	// ExternalCloudProvider registers nodes with the
	// node.cloudprovider.kubernetes.io/uninitialized taint, as a kubelet with
	// --cloud-provider=external does.
	ExternalCloudProvider bool
	// Heartbeat is how often a node's Ready condition is refreshed; default 10s.
	Heartbeat time.Duration
	// SizeLabel, PartitionLabel and RegionLabel are the Server label keys;
	// defaults are the ironcore backend's.
	SizeLabel, PartitionLabel, RegionLabel string
}

func (c *Config) defaults() {
	if c.Prefix == "" {
		c.Prefix = "server"
	}
	if len(c.Sizes) == 0 {
		c.Sizes = []string{"c1-large"}
	}
	if len(c.Zones) == 0 {
		c.Zones = []string{"zone-a", "zone-b"}
	}
	if c.Region == "" {
		c.Region = "region-1"
	}
	if !c.NodeNetwork.IsValid() {
		c.NodeNetwork = netip.MustParsePrefix("10.0.0.0/16")
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 10 * time.Second
	}
	if c.SizeLabel == "" {
		c.SizeLabel = ironcore.DefaultSizeLabel
	}
	if c.PartitionLabel == "" {
		c.PartitionLabel = ironcore.DefaultPartitionLabel
	}
	if c.RegionLabel == "" {
		c.RegionLabel = ironcore.DefaultRegionLabel
	}
}

// ServerName returns the name of the i-th server.
func (c *Config) ServerName(i int) string { return fmt.Sprintf("%s-%03d", c.Prefix, i) }

// SystemUUID returns the system UUID of the i-th server.
func (c *Config) SystemUUID(i int) string {
	return fmt.Sprintf("5e1f0000-%04x-4000-8000-%012x", len(c.Prefix), i)
}

// MAC returns the MAC address of the i-th server's network interface.
func (c *Config) MAC(i int) string {
	return fmt.Sprintf("02:00:00:%02x:%02x:%02x", byte(i>>16), byte(i>>8), byte(i))
}

// NthAddr returns the i-th host address of p: the address the i-th server
// has in NodeNetwork or NodeNetwork6.
func NthAddr(p netip.Prefix, i int) netip.Addr {
	a := p.Masked().Addr()
	for range i + 1 {
		a = a.Next()
	}
	return a
}
