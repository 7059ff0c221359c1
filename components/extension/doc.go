// Package extension is metalkube's Gardener provider extension, provider type
// "metalkube". It replaces gardener-extension-provider-metal (metal-stack)
// and gardener-extension-provider-ironcore-metal (IronCore): it talks to
// either backend only through the shared bare-metal client (shared/metal).
//
// A tour:
//
//   - apis/metal/v1alpha1: the provider API (provider.metalkube.io):
//     CloudProfileConfig, InfrastructureConfig/Status, ControlPlaneConfig,
//     WorkerConfig/Status. (The MachineClass provider spec that `metalkube mcm`
//     reads is shared/apis/mcm/v1alpha1.) Decoded strictly by apis/metal/codec,
//     validated with field paths by apis/metal/validation.
//   - controller/infrastructure: node network and egress IPs through the
//     shoot's own backend (its cloudprovider Secret, package cloudprovider);
//     status.networking; Migrate/Restore through status.state; on
//     metal-stack the cluster's firewall machine running `metalkube firewall`,
//     rolled new-before-old when its spec changes.
//   - controller/bastion: Bastions (SSH access) as a machine with a public
//     address and an SSH filter on metal-stack; refused on ironcore.
//   - cloudprovider: how a shoot's components and the extension reach the
//     shoot's backend, from its cloudprovider Secret, CloudProfile region and
//     InfrastructureConfig.
//   - controller/worker: gardener's generic worker actuator with a
//     delegate rendering MachineClasses and MachineDeployments
//     (controller/worker/machines).
//   - controller/controlplane: `metalkube ccm` and its RBAC through seed
//     and shoot ManagedResources.
//   - controller/healthcheck: ControlPlaneHealthy, SystemComponentsHealthy
//     (including the firewall agent's reports), EveryNodeReady.
//   - webhook/controlplane: external cloud provider for kube-apiserver,
//     kube-controller-manager and kubelet; the `metalkube mcm` sidecar of
//     machine-controller-manager.
//   - admission: `metalkube admission`'s Shoot/CloudProfile/Secret
//     validation and Shoot defaulting.
//   - app: the `metalkube extension` and `metalkube admission` commands; every
//     controller and webhook is switched by name. The OperatingSystemConfig
//     controller comes from components/os.
//   - test/integration: the controllers on a real kube-apiserver, golden
//     MachineClasses, the Worker reconcile benchmark.
package extension
