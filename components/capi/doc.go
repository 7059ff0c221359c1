// Package capi is metalkube's Cluster API infrastructure provider, `metalkube
// capi`: one provider for both bare-metal backends (IronCore's metal-operator
// and metal-stack's metal-api), on the same shared client the Gardener path
// uses.
//
// It reconciles, at the Cluster API v1beta2 contract (API group
// infrastructure.cluster.x-k8s.io, version v1alpha1):
//
//   - MetalCluster: the control-plane endpoint (given, or an IP allocated
//     from the backend) and the failure domains (the backend's partitions);
//   - MetalMachine: a backend machine for a Cluster API Machine, chosen by
//     server labels (serverSelector) or by size, partition and image, booted
//     with the bootstrap data the Machine's bootstrap provider wrote
//     (cloud-init or Ignition), with the provider ID in the form the
//     metalkube ccm reads; freed with the backend's ownership check;
//   - MetalMachineTemplate and MetalClusterTemplate, stamped out by Cluster
//     API (MachineDeployments, control planes, ClusterClasses).
//
// Packages: apis/infrastructure/v1alpha1 (types), controller/metalcluster and
// controller/metalmachine (reconcilers), webhooks (defaulting and
// validation), app (flags and wiring). Backend calls: AllocateMachine,
// FindMachine, FreeMachine, AllocateIP, FreeIP, ListPartitions. The README
// compares the fields with cluster-api-provider-ironcore-metal.
package capi
