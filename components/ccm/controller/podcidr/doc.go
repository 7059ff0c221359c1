// Package podcidr is the ccm's pod-cidr controller: it sets spec.podCIDR(s)
// of a new Node from its InternalIP. The node's offset in the node network
// picks the same offset block of the cluster's pod network (Family), so the
// mapping needs no allocator state and survives restarts. It makes no
// backend calls.
package podcidr
