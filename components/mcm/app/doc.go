// Package app builds `metalkube mcm`: machine-controller-manager's out-of-tree
// provider controller (pkg/util/provider/app, its options and machine
// controller) running metalkube's driver (package driver) on the bare-metal
// backend chosen by the shared backend flags.
//
// It reconciles the Machines and MachineClasses (machine.sapcloud.io/v1alpha1)
// of one namespace of the control cluster (--namespace, --control-kubeconfig)
// and the Nodes of the target cluster (--target-kubeconfig); MachineSets and
// MachineDeployments are the machine-controller-manager core controller's job.
//
// Flags: every flag of machine-controller-manager's provider app (--namespace,
// --control-kubeconfig, --target-kubeconfig, --concurrent-syncs,
// --machine-creation-timeout, --leader-elect, ...), the backend flags of
// shared/options (--backend, --metal-kubeconfig, --metal-namespace,
// --ip-pool, --backend-timeout, --server-*-label) and the driver's own:
// --machine-initialize-timeout, --machine-release-timeout and --csi-driver.
// Logging is the root command's (--log-format, --log-level), which
// machine-controller-manager's klog output follows too.
//
// Unlike upstream's app.Run, Run stops when its context is cancelled: leader
// election releases the lease, the controllers and informers stop and the
// health server shuts down. On --address:--port it serves /metrics, /healthz
// (fails when a leader has not renewed its lease in time) and /readyz (fails
// while the backend does not answer). The backend calls are the driver's (see
// package driver).
package app
