// Command helminstall does what `helm install --wait` of a chart directory
// does, with Helm's own Go packages (helm.sh/helm/v3/pkg/action, the
// version the charts module renders with) instead of the Helm CLI, which
// would be a second build of Kubernetes' client libraries in Helm's own
// module graph. It loads the chart and checks that its subcharts are
// present, merges the value files in order, installs the release (Secret
// storage, like the CLI) and waits until its resources are ready:
//
//	helminstall -kubeconfig k.yaml -namespace ns -release metalkube \
//	    -f charts/metalkube/presets/seed.yaml -f values.yaml -timeout 5m -home dir charts/metalkube
//
// It is its own program rather than a package of the e2e suite because
// Helm's Kubernetes client links kustomize's plugin loader (the Go plugin
// package, a dynamically linked executable), which cannot link with the cgo
// zstd archive that Gardener's client brings into the suite's binaries.
// e2e/realnode runs it (hack/node.sh builds it into bin/).
package main
