// Package app is `metalkube os`: Gardener's OperatingSystemConfig controller
// with metalkube's actuator (package operatingsystemconfig), run alone by a
// controller-runtime manager with leader election, metrics and health probes.
//
// Flags (names are the Flag* constants):
//
//	runtime flags of shared/component: --kubeconfig (the cluster holding the
//	                               OSCs, a seed), leader election (lease metalkube-os),
//	                               --metrics-bind-address, --health-probe-bind-address
//	--types                        OSC types handled (default ubuntu,debian,flatcar,gardenlinux)
//	--formats                      type=format pairs, over the defaults flatcar=ignition,gardenlinux=ignition
//	--default-format               format of the other types (default cloud-init)
//	--max-concurrent-reconciles    parallel reconciles (default 5)
//	--ignore-operation-annotation  reconcile on every spec change, not only when gardenlet asks
//	--extension-classes            extension classes handled (default shoot)
//
// The controller reads OperatingSystemConfigs, Clusters and the Secrets files
// refer to, writes the user-data Secrets and OSC status; it makes no calls to
// the bare-metal backend.
package app
