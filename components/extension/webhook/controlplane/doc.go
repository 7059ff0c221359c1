// Package controlplane is the extension's control plane webhook: gardener's
// generic mutator with an Ensurer that
//
//   - runs kube-apiserver and kube-controller-manager with the external cloud
//     provider (no --cloud-provider / --cloud-config on the API server,
//     --cloud-provider=external and no cloud routes on the controller manager);
//   - runs the kubelet with --cloud-provider=external and controller
//     attach/detach (kubelet unit options and KubeletConfiguration in the
//     OperatingSystemConfig);
//   - injects the `metalkube mcm` sidecar (container
//     machine-controller-manager-provider-metalkube) into the
//     machine-controller-manager Deployment, and its VPA policy.
//
// It makes no backend calls.
package controlplane
