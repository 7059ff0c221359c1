package realnode

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/e2e/framework/image"
	"github.com/metalkube/metalkube/e2e/framework/realnode"
)

// TestChartOnRealNode installs the chart for every role into the real node
// (each role's webhooks called over TLS through their Services, the capi
// provider reconciling and releasing a MetalCluster) and checks each pod: Ready, never restarted, non-root with a read-only
// root filesystem, its log readable through the API server, no RBAC denial
// and no secret in its log; the node leaves nothing behind.
func TestChartOnRealNode(t *testing.T) {
	root, imgs, n := startNode(t, realnode.StartInput{})
	ctx := t.Context()
	cs, err := n.Client()
	if err != nil {
		t.Fatal(err)
	}
	if err := Prepare(ctx, n); err != nil {
		t.Fatal(err)
	}
	var memory []framework.MemoryRow
	for _, r := range Roles {
		t.Run(r.Name, func(t *testing.T) {
			// InstallRole also calls the role's webhooks over TLS
			// through their Services and has the capi provider
			// reconcile a MetalCluster.
			in, err := InstallRole(ctx, n, root, t.TempDir(), imgs.MetalkubeRef, r)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("helm install --wait: %s", in.Took.Round(time.Millisecond))
			checkPods(ctx, t, cs, in.Namespace)
			checkExecProbes(ctx, t, n, cs, in.Namespace)
			var secrets []framework.Secret
			if r.Webhook != "" {
				secrets = append(secrets, framework.Secret{Name: "the webhook's TLS key", Value: in.Key})
			}
			checkLogs(t, n, in.Namespace, secrets)
			rows, err := PodMemory(ctx, cs, in.Namespace)
			if err != nil {
				t.Fatal(err)
			}
			memory = append(memory, rows...)
		})
	}
	reportMemory(t, root, memory)
}

// reportMemory logs the memory of every component's container, ready and
// idle, next to the image's `metalkube version` run on the host, as a
// table, and writes it to $METALKUBE_MEMORY_TABLE if set (`make memory`).
// It asserts only what cannot flake: every container measured, the parts
// adding up.
func reportMemory(t *testing.T, root string, rows []framework.MemoryRow) {
	t.Helper()
	if len(rows) == 0 {
		t.Fatal("no container measured")
	}
	for _, r := range rows {
		if r.Proc.Anonymous+r.Proc.File > r.Proc.RSS || r.Proc.Anonymous <= 0 || r.Cgroup.Usage <= 0 {
			t.Errorf("%s: memory does not add up: %+v, cgroup %+v", r.Name, r.Proc, *r.Cgroup)
		}
	}
	v, err := framework.MemoryAtFirstOutput(t.Context(), filepath.Join(root, "bin", "image", "metalkube"), "version")
	if err != nil {
		t.Fatal(err)
	}
	rows = append(rows, framework.MemoryRow{Name: "metalkube version (on the host)", Proc: v})
	var b strings.Builder
	if err := framework.WriteMemoryTable(&b, rows); err != nil {
		t.Fatal(err)
	}
	t.Logf("memory (MB) of every container, ready and idle:\n%s", b.String())
	if p := os.Getenv(EnvMemoryTable); p != "" {
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// startNode builds the node's binaries and images (and the archives of
// more, given the repository root and the metalkube image) and starts the
// node with in (its binaries, logs and images filled in); the node stops
// when the test ends and must leave nothing behind. Without root, or
// without what the node needs, the test is skipped.
func startNode(t *testing.T, in realnode.StartInput, more ...func(root string, imgs realnode.Images) ([]string, error)) (root string, imgs realnode.Images, n *realnode.Node) {
	t.Helper()
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin")
	if os.Geteuid() != 0 {
		t.Skip(realnode.Usable(bin))
	}
	if err := realnode.BuildBinaries(root); err != nil {
		t.Fatal(err)
	}
	if why := realnode.Usable(bin); why != "" {
		t.Skip(why)
	}
	if imgs, err = realnode.BuildImages(root); err != nil {
		t.Fatal(err)
	}
	for _, build := range more {
		archives, err := build(root, imgs)
		if err != nil {
			t.Fatal(err)
		}
		in.Images = append(in.Images, archives...)
	}
	ctx := t.Context()
	// The whole test holds the machine's node; released after the node's
	// teardown and leftover check (cleanups run last registered first).
	release, err := realnode.Exclusive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	start := time.Now()
	in.Bin, in.LogDir = bin, filepath.Join(t.TempDir(), "node")
	in.PauseImage, in.PauseRef, in.Images = imgs.Pause, image.PauseRef, append(in.Images, imgs.Metalkube)
	if n, err = realnode.Start(ctx, in); err != nil {
		t.Fatal(err)
	}
	for _, tm := range n.Timings {
		t.Logf("node %s: %s", tm.Phase, tm.Duration.Round(time.Millisecond))
	}
	t.Logf("node up in %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		if err := n.Stop(ctx); err != nil {
			t.Errorf("stop the node: %v", err)
		}
		if left := realnode.Leftovers(ctx, realnode.DefaultStateDir); len(left) > 0 {
			t.Errorf("left after teardown: %v", left)
		}
	})
	return root, imgs, n
}

// checkPods asserts that every pod of the namespace is Ready, has never
// restarted, and runs as the chart says: non-root (but the pods whose names
// start with one of rootPods, which the chart runs as root), read-only root
// filesystem.
// checkExecProbes runs every exec probe of the namespace's containers once
// through the CRI, as the kubelet will; a liveness probe that fails only
// after its initial delay would restart the container after the test ended.
func checkExecProbes(ctx context.Context, t *testing.T, n *realnode.Node, cs kubernetes.Interface, ns string) {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		ids := map[string]string{}
		for _, c := range p.Status.ContainerStatuses {
			ids[c.Name] = c.ContainerID
		}
		for _, c := range p.Spec.Containers {
			for kind, pr := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
				if pr == nil || pr.Exec == nil {
					continue
				}
				if err := n.Exec(ctx, ids[c.Name], pr.Exec.Command...); err != nil {
					t.Errorf("pod %s container %s: %s probe fails: %v", p.Name, c.Name, kind, err)
				} else {
					t.Logf("pod %s container %s: %s probe %q passes", p.Name, c.Name, kind, pr.Exec.Command)
				}
			}
		}
	}
}

func checkPods(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string, rootPods ...string) {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatalf("no pods in %s", ns)
	}
	for _, p := range pods.Items {
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			t.Errorf("pod %s not Ready: %s", p.Name, p.Status.Phase)
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.RestartCount > 0 {
				t.Errorf("pod %s container %s restarted %d times", p.Name, c.Name, c.RestartCount)
			}
		}
		for _, c := range p.Spec.Containers {
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("pod %s container %s: root filesystem not read-only", p.Name, c.Name)
			}
		}
		nonRoot := p.Spec.SecurityContext != nil && p.Spec.SecurityContext.RunAsNonRoot != nil && *p.Spec.SecurityContext.RunAsNonRoot
		root := slices.ContainsFunc(rootPods, func(prefix string) bool { return strings.HasPrefix(p.Name, prefix) })
		if !nonRoot && !root {
			t.Errorf("pod %s: runAsNonRoot not set", p.Name)
		}
		// `kubectl logs`: the API server asks the kubelet.
		if _, err := cs.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: p.Spec.Containers[0].Name}).DoRaw(ctx); err != nil {
			t.Errorf("logs of pod %s through the API server: %v", p.Name, err)
		}
		t.Logf("pod %s Ready on %s (%s)", p.Name, p.Spec.NodeName, p.Status.PodIP)
	}
	if t.Failed() {
		t.Log(PodReport(ctx, cs, ns))
	}
}

// checkLogs reads every container's log as the kubelet wrote it: no request
// the chart's RBAC denied ("forbidden"), and none of the secrets.
func checkLogs(t *testing.T, n *realnode.Node, ns string, secrets []framework.Secret) {
	t.Helper()
	files, err := n.PodLogs(ns)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no container logs of %s", ns)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "forbidden") {
				t.Errorf("%s: denied by RBAC: %s", filepath.Base(filepath.Dir(filepath.Dir(f))), line)
			}
		}
	}
	if err := framework.ScanLogs(files, secrets); err != nil {
		t.Error(err)
	}
}
