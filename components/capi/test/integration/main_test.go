package integration

import (
	"os"
	"testing"

	bootstrapv1 "sigs.k8s.io/cluster-api/api/bootstrap/kubeadm/v1beta2"
	controlplanev1 "sigs.k8s.io/cluster-api/api/controlplane/kubeadm/v1beta2"

	"github.com/metalkube/metalkube/components/capi/app"
	"github.com/metalkube/metalkube/shared/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	s := app.NewScheme()
	if err := bootstrapv1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := controlplanev1.AddToScheme(s); err != nil {
		panic(err)
	}
	os.Exit(testenv.Main(m, testenv.Options{
		CRDs:     []testenv.CRDSet{testenv.MetalOperator, testenv.ClusterAPI, testenv.KubeadmBootstrap, testenv.KubeadmControlPlane},
		CRDPaths: []string{"../../config/crd"},
		IPAM:     true,
		Scheme:   s,
	}, &env))
}
