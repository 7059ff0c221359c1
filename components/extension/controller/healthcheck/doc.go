// Package healthcheck registers gardener's health check controllers for the
// metalkube extension resources:
//
//   - ControlPlane: ControlPlaneHealthy from the seed ManagedResource and the
//     cloud-controller-manager Deployment; SystemComponentsHealthy from the
//     shoot ManagedResource;
//   - Infrastructure: SystemComponentsHealthy from the firewall (metal-stack):
//     its agent's FirewallStatus in the shoot must show an applied ruleset,
//     no apply error and a report newer than two minutes (FirewallChecker);
//   - Worker: EveryNodeReady from the MachineDeployments and the shoot's
//     Nodes (gardener's worker nodes checker).
//
// The checks make no backend calls; the firewall check reads the shoot.
package healthcheck
