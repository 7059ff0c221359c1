// Package metalcluster reconciles MetalClusters: the control-plane endpoint
// (used as given, or an IP allocated from the backend and freed with the
// MetalCluster) and the failure domains (the backend's partitions, narrowed
// to spec.failureDomains), reported per the Cluster API v1beta2 contract
// (status.initialization.provisioned, status.failureDomains, conditions).
// A paused Cluster stops all changes and sets Paused=True. Deleting it (which
// Cluster API does after every machine is gone) frees the endpoint IP and
// the private networks the backend allocated for the cluster's machines.
//
// Backend calls: AllocateIP (idempotent on cluster and name), FreeIP,
// FindNetworks, FreeNetwork, ListPartitions where the backend implements
// metal.PartitionLister (every backend: Server labels on IronCore, metal-api's
// partitions on metal-stack).
package metalcluster
