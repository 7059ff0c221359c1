// Package healthcheck registers gardener's health check controllers for the
// metalkube extension resources:
//
//   - ControlPlane: ControlPlaneHealthy from the seed ManagedResource and the
//     cloud-controller-manager Deployment; SystemComponentsHealthy from the
//     shoot ManagedResource;
//   - Worker: EveryNodeReady from the MachineDeployments and the shoot's
//     Nodes (gardener's worker nodes checker).
//
// The checks make no backend calls.
package healthcheck
