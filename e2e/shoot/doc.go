// Package shoot is the shared end-to-end flow: a gardenlet-like driver walks
// one shoot through its life on the test control plane, with every metalkube
// component running as a process of the real binary and the real
// machine-controller-manager, and the fleet emulator playing the servers.
//
//	Cluster, Infrastructure, OperatingSystemConfig, Worker, ControlPlane
//	  -> metalkube extension reconciles them -> MachineClasses, MachineDeployments
//	  -> machine-controller-manager + metalkube mcm -> ServerClaims
//	  -> emulated servers boot with the rendered Ignition -> Nodes register
//	  -> metalkube ccm initializes them -> a LoadBalancer Service gets an IP
//	  -> metalkube firewall in a network namespace applies policy; real traffic
//	     passes or is blocked
//	  -> the shoot is deleted -> every server, claim and IP is free again.
//
// The e2e test (shoot_test.go) and the demo run the same Flow.
package shoot
