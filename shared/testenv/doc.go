// Package testenv starts metalkube's test control plane: a real kube-apiserver
// and etcd, built from their upstream Go modules by `make testbin` (see
// hack/controlplane.sh), handed to controller-runtime's envtest, with CRDs read
// from the real upstream modules in the Go module cache.
//
// A suite starts one environment in TestMain:
//
//	var env *testenv.Env
//
//	func TestMain(m *testing.M) {
//		os.Exit(testenv.Main(m, testenv.Options{CRDs: []testenv.CRDSet{testenv.MetalOperator}}, &env))
//	}
//
// and builds managers with env.NewManager, which uses the production manager
// options (see ManagerOptions) with metrics and probes on free loopback ports.
//
// With Options.GardenerAPIServer the environment is a garden: the real
// gardener-apiserver runs as the kube-apiserver's aggregated API server (a
// front proxy configured on the kube-apiserver, APIServices registered for
// every group version it serves), on the same etcd.
package testenv
