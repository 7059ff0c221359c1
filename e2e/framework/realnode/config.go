package realnode

import (
	"fmt"
	"os"
	"path/filepath"
)

// The node's fixed layout: one node per machine at a time.
const (
	// DefaultStateDir holds everything the node writes but its logs.
	DefaultStateDir = "/var/lib/metalkube-realnode"
	// NodeName is the Node's name.
	NodeName = "realnode"
	// NodeSelectorAnnotation on a namespace puts its pods on the nodes
	// whose labels match its value (the PodNodeSelector admission plugin);
	// NodeSelector is the value that selects this node.
	NodeSelectorAnnotation = "scheduler.alpha.kubernetes.io/node-selector"
	NodeSelector           = "kubernetes.io/hostname=" + NodeName
	// serviceAccountIssuer is the API server's service account issuer.
	serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	// Bridge is the pods' bridge; it carries NodeIP.
	Bridge = "mkrn0"
	// NodeIP is the node's address on Bridge: the API server, the kubelet
	// and NodePorts listen on it.
	NodeIP = "10.217.0.1"
	// PodCIDR is the pods' network, on Bridge.
	PodCIDR = "10.217.0.0/24"
	// ServiceCIDR is the Services' network; its first address is the
	// kubernetes Service.
	ServiceCIDR = "10.218.0.0/24"
	// ServiceIP is the kubernetes Service's ClusterIP.
	ServiceIP = "10.218.0.1"
	// APIPort is the API server's port on NodeIP.
	APIPort = 16443
	// etcd listens on loopback only.
	etcdClientURL = "http://127.0.0.1:23791"
	etcdPeerURL   = "http://127.0.0.1:23801"
	// cniBinDir holds Debian's containernetworking-plugins.
	cniBinDir = "/usr/lib/cni"
	// runcPath is Debian's runc (crun fails on this machine's cgroups).
	runcPath = "/usr/sbin/runc"
	// shimSocketDir is where containerd's shims put their sockets; it is
	// fixed in containerd.
	shimSocketDir = "/run/containerd/s"
	// containerLogsDir is where the kubelet links every container's log;
	// it is fixed in the kubelet.
	containerLogsDir = "/var/log/containers"
)

// paths are the files and directories under the state directory.
type paths struct{ state string }

func (p paths) pki() string            { return filepath.Join(p.state, "pki") }
func (p paths) etcd() string           { return filepath.Join(p.state, "etcd") }
func (p paths) pids() string           { return filepath.Join(p.state, "pids") }
func (p paths) containerdRoot() string { return filepath.Join(p.state, "containerd", "root") }
func (p paths) containerdRun() string  { return filepath.Join(p.state, "containerd", "state") }
func (p paths) containerdSock() string { return filepath.Join(p.state, "containerd.sock") }
func (p paths) containerdConf() string { return filepath.Join(p.state, "containerd.toml") }
func (p paths) runcRoot() string       { return filepath.Join(p.state, "runc") }
func (p paths) cniConf() string        { return filepath.Join(p.state, "cni", "net.d") }
func (p paths) cniData() string        { return filepath.Join(p.state, "cni", "ipam") }
func (p paths) kubelet() string        { return filepath.Join(p.state, "kubelet") }
func (p paths) kubeletConf() string    { return filepath.Join(p.state, "kubelet.yaml") }
func (p paths) proxyConf() string      { return filepath.Join(p.state, "kube-proxy.yaml") }
func (p paths) podLogs() string        { return filepath.Join(p.state, "pod-logs") }
func (p paths) volumePlugins() string  { return filepath.Join(p.state, "volume-plugins") }
func (p paths) runtimeEndpoint() string {
	return "unix://" + p.containerdSock()
}

func (p paths) writeConfigs(pauseRef string) error {
	for _, d := range []string{p.cniConf(), p.cniData(), p.kubelet(), p.podLogs(), p.volumePlugins(), p.containerdRoot(), p.containerdRun(), p.pids()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	// containerd: CRI with runc on cgroupfs; restrict_oom_score_adj because
	// root here lacks CAP_SYS_RESOURCE (every sandbox fails without it);
	// network namespaces under the state directory, so that teardown finds
	// them; the pause image built here, pinned.
	containerd := fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = %[9]q

  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = %[4]q

  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    enable_unprivileged_ports = true
    enable_unprivileged_icmp = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = %[5]q
          Root = %[8]q
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = [%[6]q]
      conf_dir = %[7]q

  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
`, p.containerdRoot(), p.containerdRun(), p.containerdSock(), pauseRef, runcPath, cniBinDir, p.cniConf(), p.runcRoot(), filepath.Join(p.state, "opt"))
	if err := os.WriteFile(p.containerdConf(), []byte(containerd), 0o644); err != nil {
		return err
	}
	// CNI: the bridge (created before the API server, which listens on its
	// address), addresses from host-local kept under the state directory,
	// portmap for hostPorts. No masquerading: pods talk to the node only.
	cni := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "metalkube-realnode",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q, "gateway": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, Bridge, p.cniData(), PodCIDR, NodeIP)
	if err := os.WriteFile(filepath.Join(p.cniConf(), "10-metalkube-realnode.conflist"), []byte(cni), 0o644); err != nil {
		return err
	}
	ca := filepath.Join(p.pki(), "ca.crt")
	kubelet := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %[2]q}
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: %[3]q
imageServiceEndpoint: %[3]q
clusterDomain: cluster.local
podLogsDir: %[4]q
volumePluginDir: %[5]q
serializeImagePulls: false
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  imagefs.available: 1%%
  nodefs.inodesFree: 1%%
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
shutdownGracePeriod: 0s
`, NodeIP, ca, p.runtimeEndpoint(), p.podLogs(), p.volumePlugins())
	if err := os.WriteFile(p.kubeletConf(), []byte(kubelet), 0o644); err != nil {
		return err
	}
	// kube-proxy: iptables mode; NodePorts on the bridge only (not on
	// loopback: that would set route_localnet on the host); conntrack
	// settings of the host left alone.
	proxy := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %q
mode: iptables
hostnameOverride: %s
clusterCIDR: %s
bindAddress: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [%q]
iptables:
  localhostNodePorts: false
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, filepath.Join(p.pki(), "kube-proxy.kubeconfig"), NodeName, PodCIDR, NodeIP, PodCIDR)
	return os.WriteFile(p.proxyConf(), []byte(proxy), 0o644)
}
