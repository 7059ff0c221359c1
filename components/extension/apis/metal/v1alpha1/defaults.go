package v1alpha1

// Default values.
const (
	// DefaultArchitecture of machine images.
	DefaultArchitecture = "amd64"
	// DefaultEgressIPCount is the number of egress IPs of an EgressIPs entry.
	DefaultEgressIPCount int32 = 1
	// DefaultLoadBalancerMode announces LoadBalancer IPs with MetalLB.
	DefaultLoadBalancerMode = LoadBalancerMetalLB
)

// DefaultCloudProfileConfig sets the defaults of a CloudProfileConfig.
func DefaultCloudProfileConfig(c *CloudProfileConfig) {
	for i := range c.MachineImages {
		for j := range c.MachineImages[i].Versions {
			v := &c.MachineImages[i].Versions[j]
			if v.Architecture == nil {
				a := DefaultArchitecture
				v.Architecture = &a
			}
		}
	}
	for i := range c.MachineTypes {
		if c.MachineTypes[i].Size == "" {
			c.MachineTypes[i].Size = c.MachineTypes[i].Name
		}
	}
	for i := range c.Regions {
		for j := range c.Regions[i].Zones {
			z := &c.Regions[i].Zones[j]
			if z.Partition == "" {
				z.Partition = z.Name
			}
		}
	}
}

// DefaultInfrastructureConfig sets the defaults of an InfrastructureConfig.
func DefaultInfrastructureConfig(c *InfrastructureConfig) {
	for i := range c.EgressIPs {
		if c.EgressIPs[i].Count == nil {
			n := DefaultEgressIPCount
			c.EgressIPs[i].Count = &n
		}
	}
}

// DefaultControlPlaneConfig sets the defaults of a ControlPlaneConfig.
func DefaultControlPlaneConfig(c *ControlPlaneConfig) {
	if c.LoadBalancer == nil {
		c.LoadBalancer = &LoadBalancerConfig{}
	}
	if c.LoadBalancer.Mode == "" {
		c.LoadBalancer.Mode = DefaultLoadBalancerMode
	}
}

// DefaultWorkerConfig sets the defaults of a WorkerConfig (none today; kept
// so that every document is defaulted the same way).
func DefaultWorkerConfig(*WorkerConfig) {}
