package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion of the provider spec.
var GroupVersion = schema.GroupVersion{Group: "mcm.metalkube.io", Version: "v1alpha1"}

// Kind of the provider spec.
const Kind = "ProviderSpec"

// SecretKeyUserData is the MachineClass Secret key holding the user data.
const SecretKeyUserData = "userData"

// Tags the driver sets on every machine it allocates; user tags may not use the
// prefix.
const (
	TagPrefix = "mcm.metalkube.io/"
	// TagMachine holds the Machine's name.
	TagMachine = TagPrefix + "machine"
	// TagMachineClass holds the MachineClass's name.
	TagMachineClass = TagPrefix + "machine-class"
)

// ProviderSpec describes the machines of a MachineClass.
type ProviderSpec struct {
	metav1.TypeMeta `json:",inline"`

	// Image is the operating system image to boot (required).
	Image string `json:"image"`
	// Size is the machine size (metal-stack size, or the value of the server
	// size label on metal-operator). Empty: any size.
	Size string `json:"size,omitempty"`
	// Partition is the failure domain (zone) to allocate in. Empty: any.
	Partition string `json:"partition,omitempty"`
	// ServerLabels narrow the servers that may be chosen.
	ServerLabels map[string]string `json:"serverLabels,omitempty"`
	// Networks the machine is attached to, besides the backend's defaults.
	Networks []string `json:"networks,omitempty"`
	// IPAddresses are allocated for the machine when it is initialized and freed
	// when it is deleted, one per entry.
	IPAddresses []IPAddress `json:"ipAddresses,omitempty"`
	// SSHKeys are authorised public keys, where the backend injects them.
	SSHKeys []string `json:"sshKeys,omitempty"`
	// Tags are stored with the machine; keys must not start with
	// "mcm.metalkube.io/".
	Tags map[string]string `json:"tags,omitempty"`
	// Cluster owns the machines; ListMachines returns only its machines.
	// Default: the MachineClass's namespace (the shoot's namespace on a seed).
	Cluster string `json:"cluster,omitempty"`
}

// IPAddress asks for an address from a network.
type IPAddress struct {
	// Network to allocate from (required).
	Network string `json:"network"`
}
