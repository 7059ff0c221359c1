// Package cloud is metalkube's cloudprovider.Interface for bare-metal
// clusters, run in-process by k8s.io/cloud-provider/app.
//
// It offers InstancesV2 (exists, shutdown, metadata: provider ID, instance
// type, zone and region, node addresses, additional labels), Zones, and the
// LoadBalancer of components/lb; Clusters, Routes and the legacy Instances are
// absent.
//
// A Node is matched to a backend machine by its provider ID, else by the
// system UUID its kubelet reports, else by its name against the machine's
// hostname. Machines are read with one ListMachines call per cluster, cached
// for a short TTL (MachineCache), so a sync over hundreds of Nodes makes a
// handful of backend calls instead of one per Node per call. A Node that is
// missing from the cached list is looked up again with a fresh list before the
// provider answers "does not exist" (which makes the lifecycle controller
// delete the Node); a backend error is returned as an error, which keeps every
// Node.
//
// Backend calls: ListMachines (cached).
package cloud
