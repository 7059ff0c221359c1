// Package bastion reconciles Gardener Bastion resources of type metalkube:
// SSH access to a shoot's nodes through a small machine with a public
// address.
//
// On metal-stack the bastion is a machine (metal.MachineAllocator) in the
// cluster's private network and one external network (the
// InfrastructureConfig's first external network, else the firewall's first
// network), of the CloudProfile's bastion machine type and image (else the
// first worker pool's). Its Ignition user data runs Gardener's bastion user
// data (which provisions the SSH user and key) and installs an nftables
// input filter that lets SSH in from the Bastion's ingress CIDRs only (their
// excepts refused first); everything else inbound but replies and ICMP is
// dropped. status.ingress is the machine's external IPv4 address (IPv6 when
// it has none). A changed ingress replaces the machine. Delete frees it
// after the ownership check and waits until it is gone.
//
// On ironcore a Bastion is refused as a configuration problem, and Delete
// has nothing to free: metal-operator has no public addresses to give a
// machine (node addresses are the servers' own; IPAM pools only serve
// LoadBalancer Services) and no network in front of the server that could
// enforce the ingress CIDRs, so a bastion there would be neither reachable
// from outside nor restricted to its CIDRs.
//
// Backend calls: AllocateMachine, ListMachines, FreeMachine, GetMachine.
package bastion
