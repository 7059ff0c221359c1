package shoot

import (
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	resourcesv1alpha1 "github.com/gardener/gardener/pkg/apis/resources/v1alpha1"
	machinev1alpha1 "github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"

	fwv1alpha1 "github.com/metalkube/metalkube/components/firewall/api/v1alpha1"
	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/shared/scheme"
	"github.com/metalkube/metalkube/shared/testenv"
)

// Scheme returns the scheme of the flow's client.
func Scheme() *runtime.Scheme {
	return scheme.New(extensionsv1alpha1.AddToScheme, resourcesv1alpha1.AddToScheme, machinev1alpha1.AddToScheme, fwv1alpha1.AddToScheme)
}

// EnvOptions are the test control plane's options for the flow: every
// upstream CRD set and the firewall's CRDs, and the real Cluster API
// in-cluster IPAM provider.
func EnvOptions() (testenv.Options, error) {
	root, err := framework.RepoRoot()
	if err != nil {
		return testenv.Options{}, err
	}
	// MetalLB's CRDs, from the module the lb component renders them with.
	metallb, err := testenv.ModuleDir("go.universe.tf/metallb", "")
	if err != nil {
		return testenv.Options{}, err
	}
	return testenv.Options{
		CRDs: []testenv.CRDSet{testenv.GardenerExtensions, testenv.GardenerResources, testenv.MachineControllerManager,
			testenv.MetalOperator},
		IPAM:     true,
		CRDPaths: []string{root + "/components/firewall/config/crd", metallb + "/config/crd/bases"},
		Scheme:   Scheme(),
	}, nil
}
