package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of metalkube's provider documents.
const GroupName = "provider.metalkube.io"

// SchemeGroupVersion is the group version of this package.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

// AddToScheme registers the types of this package.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion,
		&CloudProfileConfig{},
		&InfrastructureConfig{},
		&InfrastructureStatus{},
		&ControlPlaneConfig{},
		&WorkerConfig{},
		&WorkerStatus{},
	)
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}

// Kinds of the documents.
const (
	KindCloudProfileConfig   = "CloudProfileConfig"
	KindInfrastructureConfig = "InfrastructureConfig"
	KindInfrastructureStatus = "InfrastructureStatus"
	KindControlPlaneConfig   = "ControlPlaneConfig"
	KindWorkerConfig         = "WorkerConfig"
	KindWorkerStatus         = "WorkerStatus"
)

// TypeMetaOf returns the TypeMeta of a kind of this package.
func TypeMetaOf(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: SchemeGroupVersion.String(), Kind: kind}
}
