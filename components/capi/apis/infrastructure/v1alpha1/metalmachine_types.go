package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
)

// MachineFinalizer keeps a MetalMachine until its backend machine is freed.
const MachineFinalizer = "infrastructure.cluster.x-k8s.io/metalmachine"

// MetalMachineSpec is the desired state of a MetalMachine: which server to
// take (labels, or size and partition) and what to boot on it. The bootstrap
// data comes from the owning Machine's bootstrap Secret.
type MetalMachineSpec struct {
	// ProviderID is the machine's Kubernetes provider ID
	// (metal://<scope>/<name>, the format the metalkube ccm reads), set by the
	// provider once the backend has the machine.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ProviderID string `json:"providerID,omitempty"`

	// Image is the OS image to boot (an OS image reference on metal-operator,
	// an image ID on metal-api).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// ServerSelector chooses among the servers by their labels (metal-operator
	// Server labels). Only matchLabels is supported: the backends select by
	// exact label values.
	// +optional
	ServerSelector *metav1.LabelSelector `json:"serverSelector,omitempty"`

	// Size is the machine size (metal-stack) or the value of the size label
	// of the servers (IronCore).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Size string `json:"size,omitempty"`

	// Partition pins the machine to one partition (zone). Empty: the failure
	// domain Cluster API chose for the Machine, if any.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Partition string `json:"partition,omitempty"`

	// Networks are backend networks the machine is attached to in addition
	// to the backend's defaults (metal-stack).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	Networks []string `json:"networks,omitempty"`

	// SSHKeys are authorised on the machine where the backend injects them.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	SSHKeys []string `json:"sshKeys,omitempty"`
}

// MetalMachineInitializationStatus reports the machine's initial
// provisioning, per the Cluster API contract.
type MetalMachineInitializationStatus struct {
	// Provisioned is true once the backend runs the machine: a server is
	// bound and powered on with the bootstrap data.
	// +optional
	Provisioned *bool `json:"provisioned,omitempty"`
}

// MetalMachineStatus is the observed state of a MetalMachine.
type MetalMachineStatus struct {
	// Initialization is the Cluster API contract's provisioning flag.
	// +optional
	Initialization MetalMachineInitializationStatus `json:"initialization,omitempty,omitzero"`

	// MachineID is the backend's ID of the machine (the ServerClaim on
	// IronCore, the machine UUID on metal-stack).
	// +optional
	MachineID string `json:"machineID,omitempty"`

	// Server is the backend server the machine is bound to.
	// +optional
	Server string `json:"server,omitempty"`

	// State is the backend's view: Pending, Allocated, Running or Lost.
	// +optional
	State string `json:"state,omitempty"`

	// FailureDomain is the partition the machine runs in.
	// +optional
	FailureDomain string `json:"failureDomain,omitempty"`

	// Addresses of the machine, as the backend reports them.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Addresses []clusterv1.MachineAddress `json:"addresses,omitempty"`

	// Conditions: Ready, Paused, BootstrapDataReady, ServerReady.
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
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`,description="Backend state of the machine"
// +kubebuilder:printcolumn:name="Server",type=string,JSONPath=`.status.server`,description="Server the machine is bound to"
// +kubebuilder:printcolumn:name="Provisioned",type=boolean,JSONPath=`.status.initialization.provisioned`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="ProviderID",type=string,JSONPath=`.spec.providerID`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// MetalMachine is one machine of the bare-metal backend for a Cluster API
// Machine.
type MetalMachine struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   MetalMachineSpec   `json:"spec,omitempty"`
	Status MetalMachineStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// MetalMachineList is a list of MetalMachines.
type MetalMachineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MetalMachine `json:"items"`
}

// MetalMachineTemplateResource is what a MetalMachineTemplate stamps out.
type MetalMachineTemplateResource struct {
	// ObjectMeta is put on the MetalMachines made from the template.
	// +optional
	ObjectMeta clusterv1.ObjectMeta `json:"metadata,omitempty,omitzero"`
	Spec       MetalMachineSpec     `json:"spec"`
}

// MetalMachineTemplateSpec is the spec of a MetalMachineTemplate.
type MetalMachineTemplateSpec struct {
	Template MetalMachineTemplateResource `json:"template"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=cluster-api
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta2=v1alpha1"
// +kubebuilder:metadata:labels="cluster.x-k8s.io/provider=infrastructure-metal"
// +kubebuilder:metadata:labels="clusterctl.cluster.x-k8s.io="
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.template.spec.image`
// +kubebuilder:printcolumn:name="Size",type=string,JSONPath=`.spec.template.spec.size`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// MetalMachineTemplate is a MetalMachine template for MachineDeployments,
// MachineSets and control planes.
type MetalMachineTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec MetalMachineTemplateSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// MetalMachineTemplateList is a list of MetalMachineTemplates.
type MetalMachineTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MetalMachineTemplate `json:"items"`
}
