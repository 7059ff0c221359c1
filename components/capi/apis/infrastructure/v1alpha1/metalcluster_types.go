package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
)

// ClusterFinalizer keeps a MetalCluster until the control-plane endpoint IP
// it allocated is freed.
const ClusterFinalizer = "infrastructure.cluster.x-k8s.io/metalcluster"

// DefaultAPIServerPort is the control-plane endpoint's port when none is given.
const DefaultAPIServerPort = 6443

// MetalClusterSpec is the desired state of a MetalCluster.
type MetalClusterSpec struct {
	// ControlPlaneEndpoint is where the cluster's API server is reached. With
	// a host, it is used as given; without one, the provider allocates an IP
	// from ControlPlaneNetwork in the backend and writes it here. The port
	// defaults to 6443.
	// +optional
	ControlPlaneEndpoint clusterv1.APIEndpoint `json:"controlPlaneEndpoint,omitempty,omitzero"`

	// ControlPlaneNetwork is the backend network the control-plane endpoint
	// IP is allocated from: an IP pool of the ironcore backend, a metal-api
	// network on metal-stack. Required when ControlPlaneEndpoint has no host.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ControlPlaneNetwork string `json:"controlPlaneNetwork,omitempty"`

	// FailureDomains are the backend partitions (zones) the cluster's
	// machines may be spread over. Empty: every partition the backend has.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	FailureDomains []string `json:"failureDomains,omitempty"`
}

// MetalClusterInitializationStatus reports the cluster infrastructure's
// initial provisioning, per the Cluster API contract.
type MetalClusterInitializationStatus struct {
	// Provisioned is true once the control-plane endpoint is known.
	// +optional
	Provisioned *bool `json:"provisioned,omitempty"`
}

// MetalClusterStatus is the observed state of a MetalCluster.
type MetalClusterStatus struct {
	// Initialization is the Cluster API contract's provisioning flag.
	// +optional
	Initialization MetalClusterInitializationStatus `json:"initialization,omitempty,omitzero"`

	// FailureDomains are the partitions machines may be placed in.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	FailureDomains []clusterv1.FailureDomain `json:"failureDomains,omitempty"`

	// ControlPlaneIP is the backend's ID of the control-plane endpoint IP the
	// provider allocated (empty when the endpoint was given); it is freed with
	// the MetalCluster.
	// +optional
	ControlPlaneIP string `json:"controlPlaneIP,omitempty"`

	// Conditions: Ready, Paused, ControlPlaneEndpointReady, FailureDomainsReady.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=cluster-api
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta2=v1alpha1"
// +kubebuilder:metadata:labels="cluster.x-k8s.io/provider=infrastructure-metal"
// +kubebuilder:metadata:labels="clusterctl.cluster.x-k8s.io="
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.metadata.labels.cluster\.x-k8s\.io/cluster-name`,description="Cluster API Cluster"
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.spec.controlPlaneEndpoint.host`,description="Control-plane endpoint host"
// +kubebuilder:printcolumn:name="Provisioned",type=boolean,JSONPath=`.status.initialization.provisioned`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// MetalCluster is the bare-metal infrastructure of a Cluster API Cluster.
type MetalCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   MetalClusterSpec   `json:"spec,omitempty"`
	Status MetalClusterStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// MetalClusterList is a list of MetalClusters.
type MetalClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MetalCluster `json:"items"`
}

// MetalClusterTemplateResource is what a MetalClusterTemplate stamps out.
type MetalClusterTemplateResource struct {
	// ObjectMeta is put on the MetalClusters made from the template.
	// +optional
	ObjectMeta clusterv1.ObjectMeta `json:"metadata,omitempty,omitzero"`
	Spec       MetalClusterSpec     `json:"spec"`
}

// MetalClusterTemplateSpec is the spec of a MetalClusterTemplate.
type MetalClusterTemplateSpec struct {
	Template MetalClusterTemplateResource `json:"template"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=cluster-api
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta2=v1alpha1"
// +kubebuilder:metadata:labels="cluster.x-k8s.io/provider=infrastructure-metal"
// +kubebuilder:metadata:labels="clusterctl.cluster.x-k8s.io="
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// MetalClusterTemplate is a MetalCluster template for ClusterClasses.
type MetalClusterTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec MetalClusterTemplateSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// MetalClusterTemplateList is a list of MetalClusterTemplates.
type MetalClusterTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MetalClusterTemplate `json:"items"`
}
