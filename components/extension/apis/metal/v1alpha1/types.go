package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true

// CloudProfileConfig is the providerConfig of a CloudProfile: how Gardener's
// machine images, machine types and regions map to the backend.
type CloudProfileConfig struct {
	metav1.TypeMeta `json:",inline"`

	// MachineImages maps each machine image version of the CloudProfile to the
	// backend image booted for it.
	MachineImages []MachineImages `json:"machineImages"`
	// MachineTypes maps machine types to backend sizes and server labels. A
	// machine type without an entry is a backend size of the same name.
	// +optional
	MachineTypes []MachineType `json:"machineTypes,omitempty"`
	// Regions maps regions and their zones to backend partitions and endpoints.
	// A region without an entry has partitions named like its zones.
	// +optional
	Regions []Region `json:"regions,omitempty"`
}

// MachineImages are the versions of one machine image.
type MachineImages struct {
	// Name is the machine image name in the CloudProfile (e.g. gardenlinux).
	Name string `json:"name"`
	// Versions are the versions with their backend images.
	Versions []MachineImageVersion `json:"versions"`
}

// MachineImageVersion maps one version to a backend image.
type MachineImageVersion struct {
	// Version is the machine image version in the CloudProfile.
	Version string `json:"version"`
	// Image is the backend image: an OCI reference (ironcore) or an image ID
	// (metal-stack).
	Image string `json:"image"`
	// Architecture of the image: amd64 (default) or arm64.
	// +optional
	Architecture *string `json:"architecture,omitempty"`
}

// MachineType maps a machine type to what the backend allocates.
type MachineType struct {
	// Name is the machine type in the CloudProfile.
	Name string `json:"name"`
	// Size is the backend size (metal-stack size, or the size label value of
	// ironcore Servers); defaults to Name.
	// +optional
	Size string `json:"size,omitempty"`
	// ServerLabels select the servers of this type in addition to the size.
	// +optional
	ServerLabels map[string]string `json:"serverLabels,omitempty"`
}

// Region maps a region to its backend.
type Region struct {
	// Name is the region in the CloudProfile.
	Name string `json:"name"`
	// Endpoint is refused by admission: the components reach the backend
	// the shoot's cloudprovider Secret names (its kubeconfig's server, or
	// its metalAPIURL), so a second address here would be ignored.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// Namespace holds the backend objects of this region (ironcore); the
	// cloudprovider Secret's namespace key overrides it.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// IPPools name the Cluster API IPAM pools the region's networks take
	// IPs from (ironcore, which has no IP API of its own): LoadBalancer IPs
	// of the ccm and machine addresses of the mcm.
	// +optional
	IPPools []IPPool `json:"ipPools,omitempty"`
	// Zones maps the region's zones to backend partitions.
	// +optional
	Zones []Zone `json:"zones,omitempty"`
}

// IPPool is the IPAM pool of one network (one per IP family).
type IPPool struct {
	// Network is the backend network name (an external network, or the
	// network LoadBalancer IPs come from).
	Network string `json:"network"`
	// APIGroup of the pool; default ipam.cluster.x-k8s.io.
	// +optional
	APIGroup string `json:"apiGroup,omitempty"`
	// Kind of the pool, e.g. GlobalInClusterIPPool.
	Kind string `json:"kind"`
	// Name of the pool.
	Name string `json:"name"`
}

// Zone maps a zone to a backend partition.
type Zone struct {
	// Name is the zone in the CloudProfile.
	Name string `json:"name"`
	// Partition is the backend partition; defaults to Name.
	// +optional
	Partition string `json:"partition,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true

// InfrastructureConfig is the providerConfig of a Shoot's infrastructure.
type InfrastructureConfig struct {
	metav1.TypeMeta `json:",inline"`

	// Partition is the backend partition the cluster runs in; defaults to the
	// partition of the first zone of the first worker pool.
	// +optional
	Partition string `json:"partition,omitempty"`
	// Project is the backend project owning the cluster's resources
	// (metal-stack): the extension allocates the cluster's network and
	// egress IPs in it, and the ccm and mcm run with --metal-project set to
	// it. It is required with metal-stack credentials and refused with
	// ironcore's. The backend is known only from the cloudprovider Secret's
	// keys, which Shoot admission does not read (it reads nothing from the
	// garden, so it needs no access to every project's Secrets): the
	// mismatch is refused by the Shoot's first extension step, its
	// Infrastructure, with an error naming this field and its value, which
	// gardenlet reports in the Shoot's status.
	// +optional
	Project string `json:"project,omitempty"`
	// Networks configure the cluster's networks.
	// +optional
	Networks *Networks `json:"networks,omitempty"`
	// EgressIPs are static IPs allocated for the cluster's outbound traffic.
	// +optional
	EgressIPs []EgressIPs `json:"egressIPs,omitempty"`
	// Firewall configures the cluster's firewall.
	// +optional
	Firewall *Firewall `json:"firewall,omitempty"`
}

// Networks configure the cluster's networks.
type Networks struct {
	// Node is the ID of an existing node network; empty: the extension
	// allocates a private network for the cluster (where the backend has
	// networks) and frees it with the cluster.
	// +optional
	Node string `json:"node,omitempty"`
	// PrefixLength of an allocated node network; default 22.
	// +optional
	PrefixLength *int32 `json:"prefixLength,omitempty"`
	// External are external networks the machines attach to.
	// +optional
	External []string `json:"external,omitempty"`
}

// EgressIPs are static IPs from one network.
type EgressIPs struct {
	// Network to allocate from.
	Network string `json:"network"`
	// Count of IPs; default 1.
	// +optional
	Count *int32 `json:"count,omitempty"`
}

// Firewall configures the cluster's firewall machine (metal-stack only): a
// machine metal-api allocates with the firewall role in front of the node
// network, booted with user data that runs `metalkube firewall`. A changed
// firewall rolls: the extension allocates a new firewall, waits until its
// agent reports Ready and only then frees the old one.
//
// The firewall image names its interfaces by role: int0 faces the node
// network, ext0, ext1, ... face Networks in their order; rate limits and
// egress rules of a network apply to its interface.
type Firewall struct {
	// Enabled deploys a firewall for the cluster.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// Size is the backend size of the firewall machine.
	// +optional
	Size string `json:"size,omitempty"`
	// Image of the firewall machine (a metal-api image with the firewall
	// feature).
	// +optional
	Image string `json:"image,omitempty"`
	// Networks are the external networks the firewall routes to, in
	// addition to the node network.
	// +optional
	Networks []string `json:"networks,omitempty"`
	// RateLimits bound the traffic per network.
	// +optional
	RateLimits []RateLimit `json:"rateLimits,omitempty"`
	// EgressRules translate the cluster's outbound traffic into a network
	// to a fixed source address (one of its egress IPs); a network without
	// a rule is masqueraded behind the firewall's own address.
	// +optional
	EgressRules []EgressRule `json:"egressRules,omitempty"`
	// LogAcceptedConnections would log every accepted connection; the agent
	// logs dropped ones only, so admission refuses true.
	// +optional
	LogAcceptedConnections bool `json:"logAcceptedConnections,omitempty"`
}

// RateLimit limits the traffic of one network.
type RateLimit struct {
	// Network the limit applies to.
	Network string `json:"network"`
	// RateMbit is the limit in Mbit/s.
	RateMbit int32 `json:"rateMbit"`
}

// EgressRule fixes the source address of the cluster's traffic into one
// network.
type EgressRule struct {
	// Network is one of the firewall's networks.
	Network string `json:"network"`
	// IPs are the source addresses; the agent translates to the first.
	IPs []string `json:"ips"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true

// InfrastructureStatus is the providerStatus (and state) of an Infrastructure:
// what the extension allocated, so that deletion frees exactly that and a
// restore after migration finds it again.
type InfrastructureStatus struct {
	metav1.TypeMeta `json:",inline"`

	// Partition the cluster runs in.
	// +optional
	Partition string `json:"partition,omitempty"`
	// Network is the node network.
	// +optional
	Network *NetworkStatus `json:"network,omitempty"`
	// ExternalNetworks are the external networks machines attach to.
	// +optional
	ExternalNetworks []string `json:"externalNetworks,omitempty"`
	// EgressIPs are the allocated egress IPs.
	// +optional
	EgressIPs []IPStatus `json:"egressIPs,omitempty"`
	// NetworksUnsupported is true when the backend has no network API: the
	// node network is the backend's default and nothing was allocated.
	// +optional
	NetworksUnsupported bool `json:"networksUnsupported,omitempty"`
	// Firewall is the cluster's firewall, when one is configured.
	// +optional
	Firewall *FirewallStatus `json:"firewall,omitempty"`
}

// FirewallStatus is the firewall machine the cluster runs behind and its
// agent's health.
type FirewallStatus struct {
	// Name is the firewall's allocation name (and its agent's FirewallStatus
	// object): "firewall-" and a hash of its spec.
	Name string `json:"name"`
	// ID is the backend machine ID.
	// +optional
	ID string `json:"id,omitempty"`
	// Ready is true once the agent reported an applied ruleset without error.
	Ready bool `json:"ready"`
	// Message says why it is not ready, or what is being replaced.
	// +optional
	Message string `json:"message,omitempty"`
	// LastReported is the agent's last report.
	// +optional
	LastReported *metav1.Time `json:"lastReported,omitempty"`
	// Replacing are the firewalls this one replaces, freed once it is ready.
	// +optional
	Replacing []string `json:"replacing,omitempty"`
}

// NetworkStatus is a network known to the extension.
type NetworkStatus struct {
	// ID is the backend ID.
	ID string `json:"id"`
	// Name of the network.
	// +optional
	Name string `json:"name,omitempty"`
	// Prefixes of the network.
	// +optional
	Prefixes []string `json:"prefixes,omitempty"`
	// Managed is true when the extension allocated the network and frees it.
	// +optional
	Managed bool `json:"managed,omitempty"`
}

// IPStatus is an allocated IP.
type IPStatus struct {
	// ID is the backend ID.
	ID string `json:"id"`
	// Network the IP is from.
	Network string `json:"network"`
	// Address is the IP address.
	Address string `json:"address"`
}

// Load balancer modes.
const (
	LoadBalancerMetalLB = "metallb"
	LoadBalancerCilium  = "cilium"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true

// ControlPlaneConfig is the providerConfig of a Shoot's control plane.
type ControlPlaneConfig struct {
	metav1.TypeMeta `json:",inline"`

	// CloudControllerManager configures `metalkube ccm`.
	// +optional
	CloudControllerManager *CloudControllerManagerConfig `json:"cloudControllerManager,omitempty"`
	// LoadBalancer configures Services of type LoadBalancer.
	// +optional
	LoadBalancer *LoadBalancerConfig `json:"loadBalancer,omitempty"`
}

// CloudControllerManagerConfig configures the cloud-controller-manager.
type CloudControllerManagerConfig struct {
	// FeatureGates are Kubernetes feature gates of the CCM.
	// +optional
	FeatureGates map[string]bool `json:"featureGates,omitempty"`
}

// LoadBalancerConfig configures load balancing.
type LoadBalancerConfig struct {
	// Mode is how LoadBalancer IPs are announced: metallb (default) or cilium.
	// +optional
	Mode string `json:"mode,omitempty"`
	// DefaultExternalNetwork is the network LoadBalancer IPs come from when a
	// Service names none.
	// +optional
	DefaultExternalNetwork string `json:"defaultExternalNetwork,omitempty"`
	// AdditionalNetworks Services may choose.
	// +optional
	AdditionalNetworks []string `json:"additionalNetworks,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true

// WorkerConfig is the providerConfig of a worker pool.
type WorkerConfig struct {
	metav1.TypeMeta `json:",inline"`

	// ServerLabels select servers in addition to the machine type's.
	// +optional
	ServerLabels map[string]string `json:"serverLabels,omitempty"`
	// ExtraIgnition is an Ignition config (JSON, spec 3.x) merged into the
	// machines' user data.
	// +optional
	ExtraIgnition *ExtraIgnition `json:"extraIgnition,omitempty"`
	// Metadata are tags set on the machines in the backend.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
}

// ExtraIgnition is additional Ignition configuration.
type ExtraIgnition struct {
	// Raw is the Ignition config as JSON.
	Raw string `json:"raw"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true

// WorkerStatus is the providerStatus of a Worker: the machine images in use,
// so that machines keep booting when a version leaves the CloudProfile.
type WorkerStatus struct {
	metav1.TypeMeta `json:",inline"`

	// MachineImages in use.
	// +optional
	MachineImages []MachineImage `json:"machineImages,omitempty"`
}

// MachineImage is a machine image version with its backend image.
type MachineImage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Image   string `json:"image"`
	// +optional
	Architecture *string `json:"architecture,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
