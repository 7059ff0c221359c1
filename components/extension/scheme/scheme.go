package scheme

import (
	gardencoreinstall "github.com/gardener/gardener/pkg/apis/core/install"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	resourcesv1alpha1 "github.com/gardener/gardener/pkg/apis/resources/v1alpha1"
	machinev1alpha1 "github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	vpaautoscalingv1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
	sharedscheme "github.com/metalkube/metalkube/shared/scheme"
)

// Seed returns the scheme of the extension's manager on a seed: Kubernetes,
// metal-operator and CAPI IPAM (shared), extensions.gardener.cloud,
// resources.gardener.cloud, machine.sapcloud.io, VPA and metalkube's
// provider documents.
func Seed() *runtime.Scheme {
	return sharedscheme.New(
		extensionsv1alpha1.AddToScheme,
		resourcesv1alpha1.AddToScheme,
		machinev1alpha1.AddToScheme,
		vpaautoscalingv1.AddToScheme,
		v1alpha1.AddToScheme,
	)
}

// Garden returns the scheme of the admission webhooks: Kubernetes and
// core.gardener.cloud (internal and versioned, for conversion).
func Garden() *runtime.Scheme {
	return sharedscheme.New(gardencoreinstall.AddToScheme)
}
