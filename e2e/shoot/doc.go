// Package shoot is the shared end-to-end flow: a gardenlet-like driver walks
// one shoot through its life on the test control plane, with every metalkube
// component running as a process of the real binary and the real
// machine-controller-manager, the real metal-operator and Cluster API in-cluster
// IPAM provider, and shared/fleet playing the servers' hardware (mock BMCs,
// probe agent, boot operator, kubelets).
//
// The extension runs as an operator installs it on a seed: the umbrella
// chart's seed preset, rendered by charts/render with the values an operator
// sets (image, one replica, the webhook's URL and CA), is installed into the
// API server, and its Deployment runs through framework.StartPod as the
// chart's ServiceAccount, so the chart's RBAC is all it may do (a refused
// request fails the flow), with its webhook served over TLS from the chart's
// certificate Secret. It has no backend of its own: it calls each shoot's
// with the shoot's cloudprovider Secret.
//
// The shoot's components run as they are deployed: machine-controller-manager's
// Deployment is rendered by Gardener's own component and mutated by the
// extension's control-plane webhook (which injects `metalkube mcm`), the ccm's
// Deployment comes from the ControlPlane's ManagedResources, and both pods run
// through framework.StartPod, which only rewrites mount paths, pod-local ports
// and inClusterConfig. The flow builds no flag of any of these; their backend comes
// from the shoot's cloudprovider Secret and CloudProfile. The real
// gardener-resource-manager (seed and shoot instances, built from the gardener
// module by hack/peers.sh) applies the ManagedResources and requests the shoot
// access tokens; the flow plays gardenlet's part (the generic token
// kubeconfig). It runs on ironcore (metal-operator) and on metal-stack (the
// metal-api emulator).
//
//	Cluster, Infrastructure, OperatingSystemConfig, Worker, ControlPlane
//	  -> metalkube extension reconciles them -> MachineClasses, MachineDeployments
//	  -> machine-controller-manager + metalkube mcm -> ServerClaims
//	  -> metal-operator binds and powers them -> the servers boot with the
//	     rendered Ignition -> Nodes register
//	  -> metalkube ccm initializes them -> a LoadBalancer Service gets an IP
//	  -> metalkube firewall in a network namespace applies policy; real traffic
//	     passes or is blocked
//	  -> the shoot is deleted -> every server, claim and IP is free again.
//
// The e2e test (shoot_test.go) and the demo run the same Flow.
package shoot
