package realnode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/metalkube/metalkube/e2e/framework"
)

// EnvMemoryTable names a file TestChartOnRealNode writes its memory table
// to (`make memory`), besides logging it.
const EnvMemoryTable = "METALKUBE_MEMORY_TABLE"

// cgroupPatterns are where the kubelet (cgroupfs driver) puts a container's
// cgroup, for cgroup v1's memory controller and v2: under kubepods, its QoS
// class (none for Guaranteed), the pod and the container's ID.
var cgroupPatterns = []string{
	"/sys/fs/cgroup/memory/kubepods/pod%s/%s",
	"/sys/fs/cgroup/memory/kubepods/*/pod%s/%s",
	"/sys/fs/cgroup/kubepods/pod%s/%s",
	"/sys/fs/cgroup/kubepods/*/pod%s/%s",
}

// PodMemory measures every running container of the pods of namespace ns:
// its process from /proc (the container's first process) and its cgroup as
// the kubelet reads it.
func PodMemory(ctx context.Context, cs kubernetes.Interface, ns string) ([]framework.MemoryRow, error) {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("memory of the pods of %s: %w", ns, err)
	}
	var rows []framework.MemoryRow
	for _, p := range pods.Items {
		for _, c := range p.Status.ContainerStatuses {
			_, id, ok := strings.Cut(c.ContainerID, "://")
			if !ok || c.State.Running == nil {
				continue
			}
			dir, err := containerCgroup(string(p.UID), id)
			if err != nil {
				return nil, fmt.Errorf("pod %s/%s container %s: %w", ns, p.Name, c.Name, err)
			}
			cg, err := framework.CgroupMemoryOf(dir)
			if err != nil {
				return nil, fmt.Errorf("pod %s/%s container %s: %w", ns, p.Name, c.Name, err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			if err != nil {
				return nil, fmt.Errorf("pod %s/%s container %s: %w", ns, p.Name, c.Name, err)
			}
			first, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
			pid, err := strconv.Atoi(first)
			if err != nil {
				return nil, fmt.Errorf("pod %s/%s container %s: no process in %s", ns, p.Name, c.Name, dir)
			}
			m, err := framework.MemoryOf(pid)
			if err != nil {
				return nil, fmt.Errorf("pod %s/%s container %s: %w", ns, p.Name, c.Name, err)
			}
			rows = append(rows, framework.MemoryRow{Name: p.Labels["app.kubernetes.io/component"] + "/" + c.Name, Proc: m, Cgroup: &cg})
		}
	}
	return rows, nil
}

// containerCgroup finds the cgroup directory of container id of pod uid.
func containerCgroup(uid, id string) (string, error) {
	// cgroupfs names the pod's cgroup after its UID as is (systemd would
	// write "_" for "-").
	for _, p := range cgroupPatterns {
		if m, _ := filepath.Glob(fmt.Sprintf(p, uid, id)); len(m) > 0 {
			return m[0], nil
		}
	}
	return "", fmt.Errorf("no cgroup of container %s in %v", id, cgroupPatterns)
}
