package provider

import "github.com/metalkube/metalkube/shared/metal"

// Type is the provider type of Shoots, CloudProfiles and extension resources
// (spec.type, spec.provider.type) that metalkube handles.
const Type = "metalkube"

// Name is the extension's name (leader election, field owner, webhooks).
const Name = "provider-metalkube"

// FieldOwner is the field manager of objects the extension applies.
const FieldOwner = "metalkube-extension"

// Tag keys set on backend objects the extension allocates.
const (
	TagCluster = "metalkube.io/cluster"
	TagPurpose = metal.TagPurpose
	TagPool    = "metalkube.io/pool"
	TagZone    = "metalkube.io/zone"

	PurposeNodes  = "nodes"
	PurposeEgress = metal.PurposeEgress // never handed to a Service (components/lb)
)

// NodeNetworkName is the name of the private network allocated for a cluster.
const NodeNetworkName = "nodes"

// Names of the control plane objects in a shoot's seed namespace.
const (
	CloudControllerManagerName = "cloud-controller-manager"
	ControlPlaneSeedResource   = "extension-controlplane-metalkube-seed"
	ControlPlaneShootResource  = "extension-controlplane-metalkube-shoot"
	CloudProviderConfigName    = "cloud-provider-config"
	MCMProviderContainerName   = "machine-controller-manager-provider-metalkube"
)
