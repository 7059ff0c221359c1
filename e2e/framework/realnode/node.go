package realnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/metalkube/metalkube/e2e/framework"
)

// Binaries are the programs the node runs, by name, in one directory
// (the repository's bin/, filled by hack/controlplane.sh and hack/node.sh).
var Binaries = []string{
	"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet",
	"containerd", "containerd-shim-runc-v2", "ctr", "crictl",
}

// HostTools are the programs from Debian's packages the node needs.
var HostTools = []string{runcPath, filepath.Join(cniBinDir, "bridge"), filepath.Join(cniBinDir, "host-local"), filepath.Join(cniBinDir, "portmap"), "iptables", "ip"}

// Usable says why the node cannot run here, or "" if it can: it needs root,
// the binaries in bin and the host tools.
func Usable(bin string) string {
	if os.Geteuid() != 0 {
		return "the real node needs root (kubelet, containerd, CNI, iptables)"
	}
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return fmt.Sprintf("%s is missing in %s (hack/node.sh builds it)", b, bin)
		}
	}
	for _, t := range HostTools {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Sprintf("%s is missing (hack/deps.sh installs it)", t)
		}
	}
	return ""
}

// BuildBinaries runs hack/controlplane.sh and hack/node.sh in the
// repository root: they build what is not cached yet, once per version,
// and link it into root/bin.
func BuildBinaries(root string) error {
	for _, s := range []string{"hack/controlplane.sh", "hack/node.sh"} {
		cmd := exec.Command(filepath.Join(root, s))
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", s, err, out)
		}
	}
	return nil
}

// StartInput says how to run the node.
type StartInput struct {
	// Bin holds Binaries.
	Bin string
	// StateDir holds everything the node writes but its logs;
	// DefaultStateDir if empty. Start empties it first.
	StateDir string
	// LogDir receives one log per process.
	LogDir string
	// PauseImage is the archive of the pause image (image.Pause), the
	// pods' sandbox; PauseRef its reference.
	PauseImage string
	PauseRef   string
	// Images are more image archives to import.
	Images []string
	// APIAudiences, if set, are the API server's --api-audiences (the
	// service account issuer's URL is always one).
	APIAudiences []string
}

// Node is a running node.
type Node struct {
	// Kubeconfig is a cluster-admin kubeconfig.
	Kubeconfig string
	// Config is its REST config.
	Config *rest.Config
	// Timings of the start: "teardown", "control plane", "containerd",
	// "images", "node ready".
	Timings []Timing
	paths   paths
	bin     string
	logDir  string
	lock    *os.File
	// audiences are the API server's extra --api-audiences.
	audiences []string
}

// LockFile serializes the nodes of one machine: ports, the bridge and the
// state directory are fixed, and `go test ./...` runs packages in parallel.
// Start holds it until Stop; the kernel releases it when the process dies.
const LockFile = "/run/lock/metalkube-realnode.lock"

// ExclusiveFile is held by a test for the whole of its use of the machine's
// node (all its Starts and Stops), so that nothing else changes the host
// between what it reads before and after: Start's own lock is released
// between two nodes of one test.
const ExclusiveFile = "/run/lock/metalkube-realnode-exclusive.lock"

// Exclusive waits until no other test uses the machine's node, and keeps it
// so until release is called (or the process dies).
func Exclusive(ctx context.Context) (release func(), err error) {
	f, err := lockFile(ctx, ExclusiveFile, "another test uses this machine's real node")
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

// acquire waits for the machine's node lock.
func acquire(ctx context.Context) (*os.File, error) {
	return lockFile(ctx, LockFile, "another node runs on this machine")
}

// lockFile waits for an exclusive flock of path.
func lockFile(ctx context.Context, path, holder string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	err = framework.Eventually(ctx, "the real node's lock "+path+" ("+holder+")", 30*time.Minute, 500*time.Millisecond, func(context.Context) (bool, error) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		return err == nil, err
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Timing is how long one phase of Start took.
type Timing struct {
	Phase    string
	Duration time.Duration
}

// Start tears down what a previous run left (even a crashed one), then
// brings up the control plane, containerd, kube-proxy and the kubelet, imports
// the images and waits until the Node is Ready. On error it tears down what
// it started.
func Start(ctx context.Context, in StartInput) (n *Node, err error) {
	if in.StateDir == "" {
		in.StateDir = DefaultStateDir
	}
	n = &Node{paths: paths{state: in.StateDir}, bin: in.Bin, logDir: in.LogDir, audiences: in.APIAudiences}
	if n.lock, err = acquire(ctx); err != nil {
		return nil, err
	}
	phase := time.Now()
	mark := func(name string) {
		n.Timings = append(n.Timings, Timing{Phase: name, Duration: time.Since(phase)})
		phase = time.Now()
	}
	defer func() {
		if err != nil {
			if terr := Teardown(context.WithoutCancel(ctx), in.StateDir, in.Bin); terr != nil {
				err = errors.Join(err, fmt.Errorf("tear down: %w", terr))
			}
			n.lock.Close()
			n = nil
		}
	}()
	if err := Teardown(ctx, in.StateDir, in.Bin); err != nil {
		return n, fmt.Errorf("tear down the previous node: %w", err)
	}
	mark("teardown")
	p := n.paths
	if err := os.MkdirAll(p.state, 0o700); err != nil {
		return n, err
	}
	if err := os.MkdirAll(in.LogDir, 0o755); err != nil {
		return n, err
	}
	if err := saveSysctls(p); err != nil {
		return n, err
	}
	if err := saveHostPaths(p); err != nil {
		return n, err
	}
	if err := p.writeConfigs(in.PauseRef); err != nil {
		return n, fmt.Errorf("write configs: %w", err)
	}
	if n.Kubeconfig, err = writePKI(p); err != nil {
		return n, fmt.Errorf("certificates: %w", err)
	}
	if n.Config, err = clientcmd.BuildConfigFromFlags("", n.Kubeconfig); err != nil {
		return n, err
	}
	// The bridge first: the API server listens on its address.
	if err := run(ctx, "ip", "link", "add", Bridge, "type", "bridge"); err != nil {
		return n, err
	}
	if err := run(ctx, "ip", "addr", "add", NodeIP+"/24", "dev", Bridge); err != nil {
		return n, err
	}
	if err := run(ctx, "ip", "link", "set", Bridge, "up"); err != nil {
		return n, err
	}
	if err := n.startControlPlane(ctx); err != nil {
		return n, err
	}
	mark("control plane")
	if err := n.startContainerd(ctx); err != nil {
		return n, err
	}
	mark("containerd")
	for _, img := range append([]string{in.PauseImage}, in.Images...) {
		if err := n.ctr(ctx, "-n", "k8s.io", "images", "import", "--platform", "linux/amd64", img); err != nil {
			return n, fmt.Errorf("import %s: %w", img, err)
		}
	}
	mark("images")
	if err := n.startNode(ctx); err != nil {
		return n, err
	}
	mark("node ready")
	return n, nil
}

// Stop tears the node down (Teardown) and lets the next one start.
func (n *Node) Stop(ctx context.Context) error {
	defer n.lock.Close()
	return Teardown(ctx, n.paths.state, n.bin)
}

// Client returns a clientset of the cluster admin.
func (n *Node) Client() (kubernetes.Interface, error) { return kubernetes.NewForConfig(n.Config) }

// KubeletDir is the kubelet's --root-dir (the chart's csi.kubeletDir).
func (n *Node) KubeletDir() string { return n.paths.kubelet() }

// Exec runs a command in a running container through the CRI, as the
// kubelet runs an exec probe; containerID is the pod status' (with or
// without its "containerd://" prefix).
func (n *Node) Exec(ctx context.Context, containerID string, cmd ...string) error {
	id := strings.TrimPrefix(containerID, "containerd://")
	args := append([]string{"--runtime-endpoint", n.paths.runtimeEndpoint(), "--timeout", "60s", "exec", id}, cmd...)
	return run(ctx, filepath.Join(n.bin, "crictl"), args...)
}

// LogDir is where the processes' logs are.
func (n *Node) LogDir() string { return n.logDir }

// PodLogs returns the files of the containers' logs of a namespace's pods,
// as the kubelet writes them (<namespace>_<pod>_<uid>/<container>/<n>.log).
func (n *Node) PodLogs(namespace string) ([]string, error) {
	return filepath.Glob(filepath.Join(n.paths.podLogs(), namespace+"_*", "*", "*.log"))
}

func writePKI(p paths) (string, error) {
	pk, err := newPKI(p.pki())
	if err != nil {
		return "", err
	}
	if err := pk.serviceAccountKey(); err != nil {
		return "", err
	}
	ips := []net.IP{net.ParseIP(NodeIP), net.ParseIP(ServiceIP), net.ParseIP("127.0.0.1")}
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if err := pk.issue("apiserver", "kube-apiserver", nil, ips, dns); err != nil {
		return "", err
	}
	// Each client with its own identity, so that the Node authorizer and
	// the bootstrap RBAC roles apply as in a real cluster.
	clients := []struct{ name, cn, org string }{
		{"admin", "metalkube-realnode-admin", "system:masters"},
		{"kubelet", "system:node:" + NodeName, "system:nodes"},
		{"kube-controller-manager", "system:kube-controller-manager", ""},
		{"kube-scheduler", "system:kube-scheduler", ""},
		{"kube-proxy", "system:kube-proxy", ""},
		{"front-proxy-client", "front-proxy-client", ""},
	}
	server := fmt.Sprintf("https://%s:%d", NodeIP, APIPort)
	for _, c := range clients {
		var orgs []string
		if c.org != "" {
			orgs = []string{c.org}
		}
		if err := pk.issue(c.name, c.cn, orgs, nil, nil); err != nil {
			return "", err
		}
		if _, err := pk.kubeconfig(c.name, server); err != nil {
			return "", err
		}
	}
	return filepath.Join(p.pki(), "admin.kubeconfig"), nil
}

// start runs a binary of the node and records its process ID, which
// Teardown uses after a crash of this process.
func (n *Node) start(name string, args ...string) error {
	proc, err := framework.StartProcess(framework.StartProcessInput{
		Name:   name,
		Path:   filepath.Join(n.bin, name),
		Args:   args,
		LogDir: n.logDir,
		// containerd finds the shim, the kubelet iptables, on PATH.
		Env: []string{"PATH=" + n.bin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(n.paths.pids(), name+".pid"), []byte(strconv.Itoa(proc.Pid())), 0o644)
}

func (n *Node) startControlPlane(ctx context.Context) error {
	p := n.paths
	pk := func(f string) string { return filepath.Join(p.pki(), f) }
	if err := n.start("etcd",
		"--name=realnode", "--data-dir="+p.etcd(),
		"--listen-client-urls="+etcdClientURL, "--advertise-client-urls="+etcdClientURL,
		"--listen-peer-urls="+etcdPeerURL, "--initial-advertise-peer-urls="+etcdPeerURL,
		"--initial-cluster=realnode="+etcdPeerURL, "--unsafe-no-fsync", "--log-level=warn",
	); err != nil {
		return err
	}
	if err := framework.Eventually(ctx, "etcd healthy", 2*time.Minute, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		return httpOK(ctx, etcdClientURL+"/health")
	}); err != nil {
		return n.withLog(err, "etcd")
	}
	if err := n.start("kube-apiserver",
		"--etcd-servers="+etcdClientURL,
		"--bind-address="+NodeIP, "--advertise-address="+NodeIP, fmt.Sprintf("--secure-port=%d", APIPort),
		"--tls-cert-file="+pk("apiserver.crt"), "--tls-private-key-file="+pk("apiserver.key"),
		"--client-ca-file="+pk("ca.crt"),
		// The front proxy's settings, which components that delegate
		// authentication to the API server (the ccm) read from
		// kube-system/extension-apiserver-authentication.
		"--requestheader-client-ca-file="+pk("ca.crt"), "--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+pk("front-proxy-client.crt"), "--proxy-client-key-file="+pk("front-proxy-client.key"),
		"--kubelet-client-certificate="+pk("admin.crt"), "--kubelet-client-key="+pk("admin.key"),
		// The node's name resolves nowhere: logs, exec and port-forward go
		// to its address.
		"--kubelet-preferred-address-types=InternalIP",
		"--service-cluster-ip-range="+ServiceCIDR,
		"--service-account-issuer="+serviceAccountIssuer,
		"--service-account-key-file="+pk("sa.pub"), "--service-account-signing-key-file="+pk("sa.key"),
		"--api-audiences="+strings.Join(append([]string{serviceAccountIssuer}, n.audiences...), ","),
		// PodNodeSelector: a namespace's scheduler.alpha.kubernetes.io/node-selector
		// annotation keeps its pods on this node when the cluster also has
		// Node objects without a kubelet (NodeSelectorAnnotation).
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction,PodNodeSelector",
		"--allow-privileged=true", "--profiling=false",
	); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(n.Config)
	if err != nil {
		return err
	}
	if err := framework.Eventually(ctx, "kube-apiserver ready", 3*time.Minute, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil, err
	}); err != nil {
		return n.withLog(err, "kube-apiserver")
	}
	if err := n.start("kube-controller-manager",
		"--kubeconfig="+pk("kube-controller-manager.kubeconfig"),
		"--authentication-kubeconfig="+pk("kube-controller-manager.kubeconfig"),
		"--authorization-kubeconfig="+pk("kube-controller-manager.kubeconfig"),
		"--bind-address=127.0.0.1", "--secure-port=0",
		"--service-account-private-key-file="+pk("sa.key"), "--root-ca-file="+pk("ca.crt"),
		"--use-service-account-credentials=true", "--leader-elect=false",
		"--service-cluster-ip-range="+ServiceCIDR, "--allocate-node-cidrs=false",
	); err != nil {
		return err
	}
	return n.start("kube-scheduler",
		"--kubeconfig="+pk("kube-scheduler.kubeconfig"),
		"--authentication-kubeconfig="+pk("kube-scheduler.kubeconfig"),
		"--authorization-kubeconfig="+pk("kube-scheduler.kubeconfig"),
		"--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
	)
}

func (n *Node) startContainerd(ctx context.Context) error {
	if err := n.start("containerd", "--config="+n.paths.containerdConf()); err != nil {
		return err
	}
	if err := framework.Eventually(ctx, "containerd serving", 2*time.Minute, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		err := n.ctr(ctx, "version")
		return err == nil, err
	}); err != nil {
		return n.withLog(err, "containerd")
	}
	return nil
}

func (n *Node) startNode(ctx context.Context) error {
	p := n.paths
	if err := n.start("kube-proxy", "--config="+p.proxyConf()); err != nil {
		return err
	}
	if err := n.start("kubelet",
		"--config="+p.kubeletConf(),
		"--kubeconfig="+filepath.Join(p.pki(), "kubelet.kubeconfig"),
		"--root-dir="+p.kubelet(), "--cert-dir="+filepath.Join(p.kubelet(), "pki"),
		"--node-ip="+NodeIP, "--hostname-override="+NodeName,
	); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(n.Config)
	if err != nil {
		return err
	}
	if err := framework.Eventually(ctx, "node "+NodeName+" Ready", 3*time.Minute, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					return true, nil
				}
				return false, fmt.Errorf("node %s: %s: %s", NodeName, c.Reason, c.Message)
			}
		}
		return false, nil
	}); err != nil {
		return n.withLog(err, "kubelet")
	}
	return nil
}

// ctr runs ctr against the node's containerd.
func (n *Node) ctr(ctx context.Context, args ...string) error {
	return run(ctx, filepath.Join(n.bin, "ctr"), append([]string{"--address", n.paths.containerdSock()}, args...)...)
}

// withLog adds the end of a process's log to an error.
func (n *Node) withLog(err error, name string) error {
	b, _ := os.ReadFile(filepath.Join(n.logDir, name+".log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return fmt.Errorf("%w\n--- %s log (end) ---\n%s", err, name, b)
}

func httpOK(ctx context.Context, url string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

// run runs a command, its output in the error.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
