// Package v1alpha1 holds metalkube's Cluster API infrastructure types, group
// infrastructure.cluster.x-k8s.io, at the v1beta2 contract of Cluster API:
// MetalCluster (control-plane endpoint, failure domains), MetalMachine (one
// machine of the bare-metal backend, chosen by server labels or by
// size/partition/image), MetalMachineTemplate and MetalClusterTemplate (for
// MachineDeployments, KubeadmControlPlanes and ClusterClasses).
//
// The same types serve both backends of the shared client: on IronCore a
// MetalMachine becomes a ServerClaim on metal-operator, on metal-stack a
// machine allocation in metal-api.
//
// +kubebuilder:object:generate=true
// +groupName=infrastructure.cluster.x-k8s.io
package v1alpha1
