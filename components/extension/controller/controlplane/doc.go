// Package controlplane reconciles Gardener ControlPlane resources of type
// metalkube. It deploys, through two ManagedResources in the shoot's seed
// namespace (applied by gardener-resource-manager):
//
//   - seed (extension-controlplane-metalkube-seed): the `metalkube ccm`
//     Deployment (cloud-controller-manager with the embedded load balancer
//     of components/lb), its cloud-provider-config ConfigMap and Service;
//   - shoot (extension-controlplane-metalkube-shoot): the RBAC the CCM needs
//     in the shoot (its ClusterRole, bindings, the authentication reader).
//
// The CCM reaches the shoot through a shoot access Secret and the generic
// token kubeconfig, and the backend through the Shoot's cloudprovider Secret
// (mounted at /srv/cloudprovider). The objects are built in Go from Values
// (objects.go), so they are tested like any rendered output.
//
// The controller makes no backend calls.
package controlplane
