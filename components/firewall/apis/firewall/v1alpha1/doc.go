// Package v1alpha1 holds metalkube's firewall API, group firewall.metalkube.io:
// ClusterwideNetworkPolicy, field-compatible with metal-stack's
// metal-stack.io/v1 ClusterwideNetworkPolicy so that existing policies carry
// over unchanged (only apiVersion differs).
//
// +kubebuilder:object:generate=true
// +groupName=firewall.metalkube.io
package v1alpha1
