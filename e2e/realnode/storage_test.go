package realnode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/metalkube/metalkube/components/csi/lvm/lvmtest"
	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/e2e/framework/image"
	"github.com/metalkube/metalkube/e2e/framework/realnode"
)

// csiDriverName is the chart's csi.driverName.
const csiDriverName = "lvm.csi.metalkube.io"

// TestStorageOnRealNode installs the chart's csi driver (the storage role)
// into the real node on a volume group of a loop device and checks its pods
// like TestChartOnRealNode does (the node plugin runs as root, as the chart
// says); then a PVC of the chart's csi-lvm StorageClass and a pod using it
// must become Bound and Running, the driver registered in the node's
// CSINode and the volume mounted into the pod's directory on the host, the
// volume must be a logical volume of the group, and deleting both must
// remove it.
func TestStorageOnRealNode(t *testing.T) {
	// Before the node: its cleanup (the volume group, the loop devices)
	// runs after the node's teardown.
	const vgName = "realnode-csi"
	vg := lvmtest.VG(t, vgName, 1, 1<<30)
	root, imgs, n := startNode(t, realnode.StartInput{}, StorageImages)
	ctx := t.Context()
	cs, err := n.Client()
	if err != nil {
		t.Fatal(err)
	}
	r := StorageRole(vgName, vg.Devices()[0], n.KubeletDir(), imgs)
	in, err := InstallRole(ctx, n, root, t.TempDir(), imgs.MetalkubeRef, r)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("helm install --wait: %s", in.Took.Round(time.Millisecond))
	checkPods(ctx, t, cs, in.Namespace, "metalkube-csi-node-")
	checkExecProbes(ctx, t, n, cs, in.Namespace)
	if t.Failed() {
		return
	}

	// A pod with a volume of the chart's StorageClass, placed on the node
	// (WaitForFirstConsumer): the pause image holds the mount.
	ns := in.Namespace
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To("csi-lvm"),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "uses-data", Namespace: ns},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "pause", Image: image.PauseRef, ImagePullPolicy: corev1.PullNever,
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"},
			}}},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var volume string
	if err := framework.Eventually(ctx, "the PVC Bound and its pod Running", 3*time.Minute, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		c, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "uses-data", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		volume = c.Spec.VolumeName
		return c.Status.Phase == corev1.ClaimBound && p.Status.Phase == corev1.PodRunning,
			fmt.Errorf("PVC %s, pod %s %v", c.Status.Phase, p.Status.Phase, p.Status.Conditions)
	}); err != nil {
		t.Fatalf("%v\n%s", err, PodReport(ctx, cs, ns))
	}
	lvs, err := vg.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, lv := range lvs {
		names = append(names, lv.Name)
	}
	if len(lvs) != 1 || !strings.Contains(volume, lvs[0].Name) && !strings.Contains(lvs[0].Name, volume) {
		t.Fatalf("logical volumes of %s: %v, want the one of PV %s", vgName, names, volume)
	}
	t.Logf("PV %s is LV %s/%s", volume, vgName, lvs[0].Name)
	// The kubelet knows the driver (registered through the registrar) and
	// mounted the volume into the pod's directory on the host.
	csiNode, err := cs.StorageV1().CSINodes().Get(ctx, realnode.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(csiNode.Spec.Drivers, func(d storagev1.CSINodeDriver) bool { return d.Name == csiDriverName }) {
		t.Errorf("CSINode %s: drivers %+v, want %s", realnode.NodeName, csiNode.Spec.Drivers, csiDriverName)
	}
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("volumes", "kubernetes.io~csi", volume, "mount"); !strings.Contains(string(mountinfo), want) {
		t.Errorf("no mount of .../%s on the host", want)
	}

	if err := cs.CoreV1().Pods(ns).Delete(ctx, "uses-data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := framework.Eventually(ctx, "the pod gone", 2*time.Minute, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, "uses-data", metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := framework.Eventually(ctx, "the PV and the logical volume removed", 2*time.Minute, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().PersistentVolumes().Get(ctx, volume, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("PV %s: %v", volume, err)
		}
		lvs, err := vg.List(ctx)
		return err == nil && len(lvs) == 0, fmt.Errorf("logical volumes %v (%v)", lvs, err)
	}); err != nil {
		t.Fatalf("%v\n%s", err, PodReport(context.WithoutCancel(ctx), cs, ns))
	}
	checkLogs(t, n, ns, nil)
}
