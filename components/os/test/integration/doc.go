// Package integration tests `metalkube os` on a real kube-apiserver and etcd
// (shared/testenv, Gardener's extensions CRDs): the controller built by
// app.AddToManager with the production manager options reconciles
// OperatingSystemConfigs the way gardenlet drives them — annotated with
// gardener.cloud/operation=reconcile — and the tests check the user-data
// Secret, the OSC status, re-rendering, error reporting and cleanup.
package integration
