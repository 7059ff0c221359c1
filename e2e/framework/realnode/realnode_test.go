package realnode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/e2e/framework/image"
)

// TestNodeTwice runs the node twice in a row. The first run ends as a
// crash would (every node process killed, the pods left running); the
// second Start must clean that up and come up again. After the second Stop
// nothing may be left: no process, mount, link, iptables chain, cgroup, log
// link or changed host setting.
func TestNodeTwice(t *testing.T) {
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin")
	if os.Geteuid() != 0 {
		t.Skip(Usable(bin))
	}
	if err := BuildBinaries(root); err != nil {
		t.Fatal(err)
	}
	if why := Usable(bin); why != "" {
		t.Skip(why)
	}
	imgs, err := BuildImages(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// The other node test of `go test ./...` runs in parallel: what is read
	// of the host before and after must not be its node's.
	release, err := Exclusive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	before := ReadSysctls()
	paths := ExistingHostPaths()
	stateDir := DefaultStateDir
	for round, crash := range []bool{true, false} {
		t.Run(fmt.Sprintf("run %d", round+1), func(t *testing.T) {
			n, err := Start(ctx, StartInput{
				Bin: bin, StateDir: stateDir, LogDir: filepath.Join(t.TempDir(), "logs"),
				PauseImage: imgs.Pause, PauseRef: image.PauseRef, Images: []string{imgs.Metalkube},
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, tm := range n.Timings {
				t.Logf("%s: %s", tm.Phase, tm.Duration.Round(time.Millisecond))
			}
			cs, err := n.Client()
			if err != nil {
				t.Fatal(err)
			}
			if err := runPod(ctx, cs, imgs.MetalkubeRef); err != nil {
				t.Error(err)
			}
			if crash {
				for _, name := range stopOrder {
					killRecorded(n.paths, name)
				}
				n.lock.Close() // as the kernel does for a process that dies
				return
			}
			if err := n.Stop(context.WithoutCancel(ctx)); err != nil {
				t.Fatalf("stop: %v", err)
			}
		})
	}
	if left := Leftovers(ctx, stateDir); len(left) > 0 {
		t.Errorf("left after teardown:\n%v", left)
		_ = Teardown(context.WithoutCancel(ctx), stateDir, bin)
	}
	if after := ExistingHostPaths(); fmt.Sprint(after) != fmt.Sprint(paths) {
		t.Errorf("host directories: before %v, after %v", paths, after)
	}
	if after := ReadSysctls(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("host settings changed: before %v, after %v", before, after)
	}
}

// runPod runs a Deployment whose pod runs `metalkube version` from the
// metalkube image as an init container (the image is FROM scratch: there is
// nothing else to run in it) and then the pause image as a non-root,
// read-only container, and waits until the pod is Ready.
func runPod(ctx context.Context, cs kubernetes.Interface, ref string) error {
	labels := map[string]string{"app": "bed"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bed", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: ptr.To(false),
					InitContainers: []corev1.Container{{
						Name: "version", Image: ref, ImagePullPolicy: corev1.PullNever, Args: []string{"version"},
					}},
					Containers: []corev1.Container{{
						Name: "wait", Image: image.PauseRef, ImagePullPolicy: corev1.PullNever,
						SecurityContext: &corev1.SecurityContext{
							RunAsNonRoot: ptr.To(true), ReadOnlyRootFilesystem: ptr.To(true),
							AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return err
	}
	return framework.Eventually(ctx, "the bed's pod Ready", 3*time.Minute, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=bed"})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		for _, c := range pods.Items[0].Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, fmt.Errorf("pod %s: %s %v", pods.Items[0].Name, pods.Items[0].Status.Phase, pods.Items[0].Status.ContainerStatuses)
	})
}

// killRecorded kills a node process with SIGKILL, as a crash of the test
// would leave it: the pods and their shims go on running.
func killRecorded(p paths, name string) {
	b, err := os.ReadFile(filepath.Join(p.pids(), name+".pid"))
	if err != nil {
		return
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err == nil && cmdlineHas(pid, p.state) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
