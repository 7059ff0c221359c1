// Package v1alpha1 is metalkube's provider API, group provider.metalkube.io,
// version v1alpha1: the providerConfig and providerStatus documents that
// Gardener passes through to the extension (CloudProfileConfig,
// InfrastructureConfig, ControlPlaneConfig, WorkerConfig and their statuses).
// The provider spec of a MachineClass is not here: it is the mcm driver's API,
// shared/apis/mcm/v1alpha1, which the Worker controller writes.
//
// The documents are decoded strictly (unknown fields and unknown
// apiVersion/kind are errors) by package codec, defaulted by Default* and
// validated by package validation.
//
// +kubebuilder:object:generate=true
// +groupName=provider.metalkube.io
package v1alpha1
