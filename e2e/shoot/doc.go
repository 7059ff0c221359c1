// Package shoot is the shared end-to-end flow: a gardenlet-like driver walks
// one shoot through its life on the test control plane, with every metalkube
// component running as a process of the real binary and the real
// machine-controller-manager, the real metal-operator and Cluster API in-cluster
// IPAM provider, and shared/fleet playing the servers' hardware (mock BMCs,
// probe agent, boot operator, kubelets).
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
