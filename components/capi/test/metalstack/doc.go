// Package metalstack runs the capi provider on the metal-stack backend: the
// shared client's metalstack backend against the metal-api emulator
// (shared/metalapi; metal-api cannot run here), with the real Cluster API
// core manager on the real kube-apiserver. The Machines name their
// bootstrap data directly (spec.bootstrap.dataSecretName), as Cluster API
// allows; the kubeadm providers and the full flow run in package
// integration on the IronCore backend.
package metalstack
