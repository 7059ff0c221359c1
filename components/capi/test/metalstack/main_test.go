package metalstack

import (
	"os"
	"testing"

	"github.com/metalkube/metalkube/components/capi/app"
	"github.com/metalkube/metalkube/shared/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{
		CRDs:     []testenv.CRDSet{testenv.ClusterAPIIPAM, testenv.ClusterAPI},
		CRDPaths: []string{"../../config/crd"},
		Scheme:   app.NewScheme(),
	}, &env))
}
