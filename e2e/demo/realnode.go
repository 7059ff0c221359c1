package demo

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/e2e/framework/image"
	"github.com/metalkube/metalkube/e2e/framework/realnode"
	chart "github.com/metalkube/metalkube/e2e/realnode"
)

// NodeMode says whether the demo runs the real node.
type NodeMode int

// Real node modes.
const (
	// NodeAuto runs it where it can run: as root, with its binaries built
	// (`make demo` builds them).
	NodeAuto NodeMode = iota
	NodeOn
	NodeOff
)

// useRealNode decides, and says why not where it does not run.
func useRealNode(mode NodeMode, out io.Writer) (bool, error) {
	if mode == NodeOff {
		return false, nil
	}
	root, err := framework.RepoRoot()
	if err != nil {
		return false, err
	}
	why := realnode.Usable(filepath.Join(root, "bin"))
	switch {
	case why == "":
		return true, nil
	case mode == NodeOn:
		return false, fmt.Errorf("the real node cannot run: %s", why)
	}
	fmt.Fprintf(out, "           (real node skipped: %s; every component runs as a process)\n", why)
	return false, nil
}

// startRealNode brings up the real node (kubelet, containerd, runc, CNI,
// kube-proxy and a control plane of its own), builds and imports the
// metalkube image and installs the umbrella chart into it for each cluster
// role with `helm install --wait`, printing the pods. It returns the
// node's teardown.
func startRealNode(ctx context.Context, out io.Writer, logDir string, start time.Time) (func(context.Context) error, error) {
	root, err := framework.RepoRoot()
	if err != nil {
		return nil, err
	}
	stamp := func() string { return fmt.Sprintf("[%6.1fs]", time.Since(start).Seconds()) }
	fmt.Fprintf(out, "%s real node: build the metalkube and pause images (make image)\n", stamp())
	imgs, err := realnode.BuildImages(root)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "%s real node: start etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd + runc, CNI bridge, kube-proxy and the kubelet; import %s\n", stamp(), imgs.MetalkubeRef)
	n, err := realnode.Start(ctx, realnode.StartInput{
		Bin: filepath.Join(root, "bin"), LogDir: filepath.Join(logDir, "realnode"),
		PauseImage: imgs.Pause, PauseRef: image.PauseRef, Images: []string{imgs.Metalkube},
	})
	if err != nil {
		return nil, err
	}
	stop := func(ctx context.Context) error {
		fmt.Fprintf(out, "%s real node: tear down (pods through the CRI, processes, mounts, bridge, iptables chains, cgroups)\n", stamp())
		return n.Stop(ctx)
	}
	fail := func(err error) (func(context.Context) error, error) {
		_ = stop(context.WithoutCancel(ctx))
		return nil, err
	}
	fmt.Fprintf(out, "%s real node %s Ready\n", stamp(), realnode.NodeName)
	if err := chart.Prepare(ctx, n); err != nil {
		return fail(err)
	}
	cs, err := n.Client()
	if err != nil {
		return fail(err)
	}
	for _, r := range chart.Roles {
		in, err := chart.InstallRole(ctx, n, root, filepath.Join(logDir, "realnode", "helm-"+r.Name), imgs.MetalkubeRef, r)
		if err != nil {
			return fail(err)
		}
		pods, err := cs.CoreV1().Pods(in.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fail(err)
		}
		var names []string
		for _, p := range pods.Items {
			ready := "not Ready"
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready = "Ready"
				}
			}
			names = append(names, fmt.Sprintf("%s (%s, %s)", p.Name, p.Status.PodIP, ready))
		}
		fmt.Fprintf(out, "%s real node: helm install metalkube -f presets/%s.yaml --wait: %.1fs\n           %s\n", stamp(), r.Preset, in.Took.Seconds(), strings.Join(names, "\n           "))
	}
	fmt.Fprintf(out, "           real node kubeconfig: %s\n", n.Kubeconfig)
	fmt.Fprintf(out, "           (the shoot flow below still runs its components as processes against its own API server)\n")
	return stop, nil
}
