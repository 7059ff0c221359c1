package fleet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/url"
	"strings"
	"sync"
	"time"

	metalv1alpha1 "github.com/ironcore-dev/metal-operator/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TaintUninitialized is the taint a kubelet with an external cloud provider
// registers with.
const TaintUninitialized = "node.cloudprovider.kubernetes.io/uninitialized"

// registerNode registers the node of a booted server, as its kubelet would.
func registerNode(ctx context.Context, nodes client.Client, cfg *Config, name string, srv *metalv1alpha1.Server) error {
	var ips []string
	for _, nic := range srv.Status.NetworkInterfaces {
		for _, ip := range nic.IPs {
			if ip.IsLinkLocalUnicast() || ip.IsLoopback() { // not what a kubelet reports
				continue
			}
			ips = append(ips, ip.String())
		}
	}
	return RegisterNode(ctx, nodes, NodeSpec{Name: name, SystemUUID: srv.Spec.SystemUUID, InternalIPs: ips, ExternalCloudProvider: cfg.ExternalCloudProvider})
}

// NodeSpec is what a booted machine's kubelet registers.
type NodeSpec struct {
	// Name of the Node (the machine's hostname).
	Name string
	// SystemUUID is the machine's (the ccm matches machines by it).
	SystemUUID string
	// InternalIPs the kubelet reports.
	InternalIPs []string
	// ExternalCloudProvider registers the node with the uninitialized taint
	// a cloud-controller-manager removes.
	ExternalCloudProvider bool
}

// RegisterNode registers a Node the way a starting kubelet does: created,
// then its status written, Ready.
func RegisterNode(ctx context.Context, nodes client.Client, spec NodeSpec) error {
	name := spec.Name
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		corev1.LabelHostname: name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64",
	}}}
	if spec.ExternalCloudProvider {
		node.Spec.Taints = []corev1.Taint{{Key: TaintUninitialized, Value: "true", Effect: corev1.TaintEffectNoSchedule}}
	}
	node.Status = corev1.NodeStatus{
		Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")},
		NodeInfo: corev1.NodeSystemInfo{SystemUUID: spec.SystemUUID, MachineID: strings.ReplaceAll(spec.SystemUUID, "-", ""),
			KubeletVersion: "v1.36.4", OperatingSystem: "linux", Architecture: "amd64", ContainerRuntimeVersion: "containerd://2.1.0"},
		Conditions: []corev1.NodeCondition{readyCondition(metav1.Now())},
		Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}},
	}
	node.Status.Allocatable = node.Status.Capacity
	for _, ip := range spec.InternalIPs {
		node.Status.Addresses = append(node.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	want := node.Status
	if err := nodes.Create(ctx, node); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		if err := nodes.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
			return err
		}
	}
	// Like a kubelet, write the status after registering (create may drop it).
	node.Status = want
	return nodes.Status().Update(ctx, node)
}

func readyCondition(now metav1.Time) corev1.NodeCondition {
	return corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "kubelet is posting ready status (metalkube fleet)", LastHeartbeatTime: now, LastTransitionTime: now}
}

// heartbeats refreshes, every interval, the Ready condition of the nodes
// running returns (by server), as their kubelets would.
func heartbeats(ctx context.Context, nodes client.Client, interval time.Duration, running func() map[string]string) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for _, name := range running() {
			node := &corev1.Node{}
			if err := nodes.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
				continue
			}
			patch := client.MergeFrom(node.DeepCopy())
			now := metav1.Now()
			found := false
			for i := range node.Status.Conditions {
				if c := &node.Status.Conditions[i]; c.Type == corev1.NodeReady {
					found = true
					if c.Status != corev1.ConditionTrue {
						*c = readyCondition(now)
					}
					c.LastHeartbeatTime = now
				}
			}
			if !found {
				node.Status.Conditions = append(node.Status.Conditions, readyCondition(now))
			}
			_ = nodes.Status().Patch(ctx, node, patch)
		}
	}
}

// Hostname finds the hostname in user data: Ignition's /etc/hostname file or
// cloud-init's hostname / fqdn key. Empty if there is none.
func Hostname(userData []byte) string {
	var ign struct {
		Storage struct {
			Files []struct {
				Path     string `json:"path"`
				Contents struct {
					Source string `json:"source"`
				} `json:"contents"`
			} `json:"files"`
		} `json:"storage"`
	}
	if json.Unmarshal(userData, &ign) == nil {
		for _, f := range ign.Storage.Files {
			if f.Path == "/etc/hostname" {
				return strings.TrimSpace(dataURL(f.Contents.Source))
			}
		}
		return ""
	}
	for _, line := range strings.Split(string(userData), "\n") {
		for _, key := range []string{"hostname:", "fqdn:"} {
			if v, ok := strings.CutPrefix(line, key); ok {
				return strings.Trim(strings.TrimSpace(v), `"'`)
			}
		}
	}
	return ""
}

// dataURL decodes a data: URL's payload.
func dataURL(s string) string {
	rest, ok := strings.CutPrefix(s, "data:")
	if !ok {
		return ""
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return ""
	}
	if strings.HasSuffix(meta, ";base64") {
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return ""
		}
		return string(b)
	}
	v, err := url.PathUnescape(data)
	if err != nil {
		return ""
	}
	return v
}

func readCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }

// kubelets are the simulated kubelets of booted servers.
type kubelets struct {
	c   client.Client
	cfg *Config

	mu      sync.Mutex
	booted  map[string]string // server -> node
	stopped map[string]bool
}

func newKubelets(c client.Client, cfg *Config) *kubelets {
	return &kubelets{c: c, cfg: cfg, booted: map[string]string{}, stopped: map[string]bool{}}
}

// boot registers the server's node (again, after a stop) and starts its
// heartbeats.
func (k *kubelets) boot(ctx context.Context, srv *metalv1alpha1.Server, hostname string) error {
	if err := registerNode(ctx, k.c, k.cfg, hostname, srv); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.booted[srv.Name] = hostname
	delete(k.stopped, srv.Name)
	ctrl.LoggerFrom(ctx).Info("server booted, node registered", "server", srv.Name, "node", hostname)
	return nil
}

// running reports whether the server's node is booted and heart-beating.
func (k *kubelets) running(server string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.booted[server]
	return ok && !k.stopped[server]
}

func (k *kubelets) stop(server string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.booted[server]; ok {
		k.stopped[server] = true
	}
}

func (k *kubelets) forget(server string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.booted, server)
	delete(k.stopped, server)
}

func (k *kubelets) nodes() map[string]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.booted)
}

func (k *kubelets) run(ctx context.Context) error {
	return heartbeats(ctx, k.c, k.cfg.Heartbeat, func() map[string]string {
		k.mu.Lock()
		defer k.mu.Unlock()
		out := map[string]string{}
		for s, n := range k.booted {
			if !k.stopped[s] {
				out[s] = n
			}
		}
		return out
	})
}
