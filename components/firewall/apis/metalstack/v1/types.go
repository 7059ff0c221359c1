package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
)

// GroupVersion is metal-stack's API group and version.
var GroupVersion = schema.GroupVersion{Group: "metal-stack.io", Version: "v1"}

// AddToScheme adds metal-stack's ClusterwideNetworkPolicy to a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ClusterwideNetworkPolicy{}, &ClusterwideNetworkPolicyList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// ClusterwideNetworkPolicy is metal-stack.io/v1's policy object.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=cwnp
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`
type ClusterwideNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   v1alpha1.PolicySpec   `json:"spec,omitempty"`
	Status v1alpha1.PolicyStatus `json:"status,omitempty"`
}

// ClusterwideNetworkPolicyList is a list of ClusterwideNetworkPolicy.
//
// +kubebuilder:object:root=true
type ClusterwideNetworkPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterwideNetworkPolicy `json:"items"`
}
