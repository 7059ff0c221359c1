// Package realnode is the real node test bed: a single-node Kubernetes
// cluster on this machine whose pods are run by a real kubelet. etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy
// (iptables mode) and the kubelet run from the binaries hack/controlplane.sh
// and hack/node.sh build once per version; containerd v2 runs the pods
// through Debian's runc, on a bridge + host-local + portmap CNI network of
// Debian's plugins. Images are built here (package image) and imported,
// never pulled: no registry is reachable.
//
// Settings this machine needs: containerd's restrict_oom_score_adj (root
// lacks CAP_SYS_RESOURCE), cgroupfs and no systemd cgroups (hybrid cgroup
// v1), the kubelet's failCgroupV1: false and failSwapOn: false.
//
// Ports, the bridge and the state directory are fixed, so there is one node
// per machine at a time. Start first tears down what a previous run left,
// even one that crashed; Stop tears everything down: the pods through the
// CRI (so that CNI releases addresses and rules), the processes by their
// recorded IDs, the mounts and network namespaces under the state
// directory, the bridge, the KUBE-* and CNI-* iptables chains, the kubepods
// cgroups, the pods' logs, the host directories whose place is fixed and
// that it created (HostPaths) and the host settings the kubelet changes
// (Sysctls). Leftovers lists what is still there. Nodes on one machine take
// turns through a lock (LockFile). It needs root.
package realnode
