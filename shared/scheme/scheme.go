package scheme

import (
	metalv1alpha1 "github.com/ironcore-dev/metal-operator/api/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ipamv1 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
)

// New returns a new scheme with the Kubernetes built-in types, metal-operator's
// metal.ironcore.dev/v1alpha1 and Cluster API's ipam.cluster.x-k8s.io/v1beta2,
// plus whatever the given functions add.
func New(add ...func(*runtime.Scheme) error) *runtime.Scheme {
	s := runtime.NewScheme()
	for _, f := range append([]func(*runtime.Scheme) error{clientgoscheme.AddToScheme, metalv1alpha1.AddToScheme, ipamv1.AddToScheme}, add...) {
		utilruntime.Must(f(s))
	}
	return s
}
