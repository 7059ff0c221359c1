package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of this package.
var GroupVersion = schema.GroupVersion{Group: "infrastructure.cluster.x-k8s.io", Version: "v1alpha1"}

// AddToScheme adds this package's types to a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&MetalCluster{}, &MetalClusterList{}, &MetalClusterTemplate{}, &MetalClusterTemplateList{},
		&MetalMachine{}, &MetalMachineList{}, &MetalMachineTemplate{}, &MetalMachineTemplateList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
