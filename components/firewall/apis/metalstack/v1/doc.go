// Package v1 reads metal-stack's metal-stack.io/v1
// ClusterwideNetworkPolicy objects, so that a cluster moving from metal-stack's
// firewall-controller keeps its policies unchanged. The spec and status are
// metalkube's own v1alpha1 types: the two APIs are field-compatible.
//
// +kubebuilder:object:generate=true
// +groupName=metal-stack.io
// +versionName=v1
package v1
