package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of this package.
var GroupVersion = schema.GroupVersion{Group: "firewall.metalkube.io", Version: "v1alpha1"}

// AddToScheme adds this package's types to a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ClusterwideNetworkPolicy{}, &ClusterwideNetworkPolicyList{}, &FirewallStatus{}, &FirewallStatusList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
