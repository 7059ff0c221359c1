package shoot

import (
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	resourcesv1alpha1 "github.com/gardener/gardener/pkg/apis/resources/v1alpha1"
	machinev1alpha1 "github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/runtime"
	vpaautoscalingv1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	fwv1alpha1 "github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/shared/scheme"
	"github.com/metalkube/metalkube/shared/testenv"
)

// Scheme returns the scheme of the flow's client.
func Scheme() *runtime.Scheme {
	return scheme.New(extensionsv1alpha1.AddToScheme, resourcesv1alpha1.AddToScheme, machinev1alpha1.AddToScheme, fwv1alpha1.AddToScheme,
		vpaautoscalingv1.AddToScheme, monitoringv1.AddToScheme)
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
	// What Gardener's machine-controller-manager component deploys besides
	// its Deployment: a VPA and monitoring objects, from Gardener's seed CRDs.
	gardener, err := testenv.ModuleDir("github.com/gardener/gardener", "")
	if err != nil {
		return testenv.Options{}, err
	}
	var seedCRDs []string
	for _, n := range []string{"autoscaling.k8s.io_verticalpodautoscalers", "monitoring.coreos.com_servicemonitors", "monitoring.coreos.com_prometheusrules"} {
		seedCRDs = append(seedCRDs, gardener+"/example/seed-crds/10-crd-"+n+".yaml")
	}
	return testenv.Options{
		CRDs: []testenv.CRDSet{testenv.GardenerExtensions, testenv.GardenerResources, testenv.MachineControllerManager,
			testenv.MetalOperator},
		IPAM: true,
		// The shoot's API server as Gardener runs it: it accepts the shoot
		// access tokens gardener-resource-manager requests (audience gardener).
		APIAudiences: []string{"kubernetes", "gardener"},
		CRDPaths:     append([]string{root + "/components/firewall/config/crd", metallb + "/config/crd/bases"}, seedCRDs...),
		Scheme:       Scheme(),
	}, nil
}
