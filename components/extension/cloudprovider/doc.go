// Package cloudprovider renders how a shoot's metalkube components reach the
// bare-metal backend, from Gardener's objects alone: the backend is chosen by
// the keys of the shoot's cloudprovider Secret (kubeconfig: ironcore,
// metalAPIURL: metal-stack), its settings come from the Secret, the
// CloudProfileConfig's region (namespace, IP pools) and the
// InfrastructureConfig (project), and the credentials are mounted as files
// from the Secret, never put on a command line.
//
// The ControlPlane's `metalkube ccm` Deployment and the control-plane
// webhook's `metalkube mcm` sidecar both take their backend flags from
// Render, so the two always address the same backend the same way.
package cloudprovider
