package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/csi/driver"
	"github.com/metalkube/metalkube/components/csi/lvm/lvmtest"
	"github.com/metalkube/metalkube/shared/testenv"
)

// TestProvisionerFlow runs the real external-provisioner and external-resizer
// (built from the Go module proxy) and kube-controller-manager's volume
// controllers against the test API server and the driver, deployed the way
// the chart deploys them: the provisioner beside the node plugin in
// node-deployment mode, the resizer in the controller Deployment against the
// cluster-wide half (--role=controller). A PVC of the csi-lvm StorageClass
// (WaitForFirstConsumer), written the way metal-stack users write it, becomes
// a bound PV with a logical volume behind it on the node, is expanded, and is
// deleted with nothing left in the volume group; all along the provisioner's
// CSIStorageCapacity for the node follows the volume group's free space.
// What a kubelet does, which does not run here, the test does: the node's
// CSINode object (kubelet with node-driver-registrar), the scheduler's
// selected-node annotation, and the NodeStageVolume / NodeExpandVolume calls.
func TestProvisionerFlow(t *testing.T) {
	bin, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"csi-provisioner", "csi-resizer", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Fatalf("%s is not built: %v (make testbin builds it)", b, err)
		}
	}
	vg := lvmtest.VG(t, "flow", 1, 1<<30)
	sock := serve(t, vg, "node-a")
	central := serveCentral(t)

	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stop the test control plane: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := env.Client

	// What kubelet and node-driver-registrar make on a real node.
	must(t, c.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{driver.TopologyKey: "node-a"}}}))
	must(t, c.Create(ctx, &storagev1.CSINode{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{
		{Name: driver.DefaultName, NodeID: "node-a", TopologyKeys: []string{driver.TopologyKey}},
	}}}))
	// What the chart installs.
	attach := false
	must(t, c.Create(ctx, &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: driver.DefaultName}, Spec: storagev1.CSIDriverSpec{AttachRequired: &attach}}))
	expand, wffc, del := true, storagev1.VolumeBindingWaitForFirstConsumer, corev1.PersistentVolumeReclaimDelete
	must(t, c.Create(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "csi-lvm"}, Provisioner: driver.DefaultName,
		AllowVolumeExpansion: &expand, VolumeBindingMode: &wffc, ReclaimPolicy: &del,
		Parameters: map[string]string{driver.ParamType: driver.TypeLinear, "csi.storage.k8s.io/fstype": "xfs"}}))

	dir := t.TempDir()
	start(t, dir, filepath.Join(bin, "kube-controller-manager"), "--kubeconfig="+env.Kubeconfig, "--leader-elect=false", "--secure-port=0",
		"--controllers=persistentvolume-binder-controller,persistentvolume-expander-controller,persistentvolume-protection-controller,persistentvolumeclaim-protection-controller")
	// Capacity tracking: the provisioner turns GetCapacity into
	// CSIStorageCapacity objects (no owner: it runs outside a pod here). In
	// node-deployment mode it provisions and reports for its own node only.
	t.Setenv("NAMESPACE", "default")
	t.Setenv("NODE_NAME", "node-a")
	start(t, dir, filepath.Join(bin, "csi-provisioner"), "--csi-address="+sock, "--kubeconfig="+env.Kubeconfig, "--leader-election=false", "--timeout=2m", "--v=3",
		"--node-deployment", "--enable-capacity", "--capacity-ownerref-level=-1", "--capacity-poll-interval=2s")
	start(t, dir, filepath.Join(bin, "csi-resizer"), "--csi-address="+central, "--kubeconfig="+env.Kubeconfig, "--leader-election=false", "--timeout=2m", "--v=3")

	info, err := vg.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	free := info.Free
	waitCapacity(ctx, t, dir, c, free)

	// The PVC as metal-stack's csi-lvm users write it.
	sc := "csi-lvm"
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default"}, Spec: corev1.PersistentVolumeClaimSpec{
		StorageClassName: &sc, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("320Mi")}},
	}}
	must(t, c.Create(ctx, pvc))
	// The scheduler's choice for the first pod using it (WaitForFirstConsumer).
	metav1.SetMetaDataAnnotation(&pvc.ObjectMeta, "volume.kubernetes.io/selected-node", "node-a")
	must(t, c.Update(ctx, pvc))
	var pv corev1.PersistentVolume
	waitFor(ctx, t, dir, "the PVC bound", func() (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(pvc), pvc); err != nil {
			return false, err
		}
		return pvc.Status.Phase == corev1.ClaimBound, nil
	})
	must(t, c.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, &pv))
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != driver.DefaultName {
		t.Fatalf("PV %s source %+v, want the CSI driver %s", pv.Name, pv.Spec.CSI, driver.DefaultName)
	}
	id := pv.Spec.CSI.VolumeHandle
	lv, err := vg.Get(ctx, id)
	if err != nil || lv.Size != 320*mib {
		t.Fatalf("logical volume %s behind PV %s: %+v, %v; want 320 MiB", id, pv.Name, lv, err)
	}
	waitCapacity(ctx, t, dir, c, free-320*mib)
	var terms []corev1.NodeSelectorTerm
	if a := pv.Spec.NodeAffinity; a != nil && a.Required != nil {
		terms = a.Required.NodeSelectorTerms
	}
	if len(terms) != 1 || fmt.Sprint(terms[0].MatchExpressions) != fmt.Sprint([]corev1.NodeSelectorRequirement{{Key: driver.TopologyKey, Operator: corev1.NodeSelectorOpIn, Values: []string{"node-a"}}}) {
		t.Errorf("PV node affinity %v, want %s in [node-a]", terms, driver.TopologyKey)
	}

	// Expand: the resizer records the new size on the PV without calling the
	// node (the cluster-wide half claims node-side expansion only) and marks
	// the node's turn pending; the kubelet's NodeExpandVolume on the node then
	// grows the logical volume and the file system.
	pvc.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("400Mi")
	must(t, c.Update(ctx, pvc))
	waitFor(ctx, t, dir, "the PV expanded", func() (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(&pv), &pv); err != nil {
			return false, err
		}
		got := pv.Spec.Capacity[corev1.ResourceStorage]
		return got.Value() == 400*mib, nil
	})
	waitFor(ctx, t, dir, "the PVC waiting for the node to grow the file system", func() (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(pvc), pvc); err != nil {
			return false, err
		}
		for _, cond := range pvc.Status.Conditions {
			if cond.Type == corev1.PersistentVolumeClaimFileSystemResizePending && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if lv, err := vg.Get(ctx, id); err != nil || lv.Size != 320*mib {
		t.Errorf("logical volume %s before the node expands it: %+v, %v; want still 320 MiB", id, lv, err)
	}
	nodeExpand(ctx, t, sock, &pv)
	if lv, err := vg.Get(ctx, id); err != nil || lv.Size != 400*mib {
		t.Errorf("logical volume %s after NodeExpandVolume: %+v, %v; want 400 MiB", id, lv, err)
	}
	waitCapacity(ctx, t, dir, c, free-400*mib)

	// Delete: the PV goes (reclaim policy Delete) and so does the volume.
	must(t, c.Delete(ctx, pvc))
	waitFor(ctx, t, dir, "the PV deleted", func() (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(&pv), &pv)
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	assertEmpty(t, vg)
	waitCapacity(ctx, t, dir, c, free)
}

// nodeExpand does what the kubelet does on the volume's node for a pending
// file system resize: stage the volume with the PV's file system, call
// NodeExpandVolume with the PV's size, and (here) unstage it again.
func nodeExpand(ctx context.Context, t *testing.T, sock string, pv *corev1.PersistentVolume) {
	t.Helper()
	cl := dial(t, sock)
	staging := t.TempDir()
	capability := mountCap(pv.Spec.CSI.FSType)
	id := pv.Spec.CSI.VolumeHandle
	if _, err := cl.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging, VolumeCapability: capability}); err != nil {
		t.Fatalf("NodeStageVolume %s: %v", id, err)
	}
	size := pv.Spec.Capacity[corev1.ResourceStorage]
	resp, err := cl.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: id, VolumePath: staging, StagingTargetPath: staging,
		CapacityRange: &csi.CapacityRange{RequiredBytes: size.Value()}, VolumeCapability: capability})
	if err != nil || resp.GetCapacityBytes() != size.Value() {
		t.Errorf("NodeExpandVolume %s to %s: %v, %v", id, size.String(), resp, err)
	}
	if _, err := cl.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: staging}); err != nil {
		t.Fatalf("NodeUnstageVolume %s: %v", id, err)
	}
}

// serveCentral serves the cluster-wide half (--role=controller) on a socket.
func serveCentral(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "central.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- driver.NewCentral("", "test", testr.New(t)).Serve(ctx, sock) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve the cluster-wide half: %v", err)
		}
	})
	return sock
}

// waitCapacity waits until the CSIStorageCapacity of csi-lvm on node-a says
// want bytes.
func waitCapacity(ctx context.Context, t *testing.T, dir string, c client.Client, want int64) {
	t.Helper()
	waitFor(ctx, t, dir, fmt.Sprintf("a CSIStorageCapacity of %d bytes for csi-lvm on node-a", want), func() (bool, error) {
		var list storagev1.CSIStorageCapacityList
		if err := c.List(ctx, &list, client.InNamespace("default")); err != nil {
			return false, err
		}
		for _, sc := range list.Items {
			if sc.StorageClassName != "csi-lvm" || sc.Capacity == nil || sc.NodeTopology == nil || sc.NodeTopology.MatchLabels[driver.TopologyKey] != "node-a" {
				continue
			}
			if sc.Capacity.Value() == want {
				return true, nil
			}
		}
		return false, nil
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// start runs a peer until the test ends, its output in dir/<name>.log.
func start(t *testing.T, dir, path string, args ...string) {
	t.Helper()
	log, err := os.Create(filepath.Join(dir, filepath.Base(path)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = log.Close()
	})
}

// waitFor polls cond until it holds; on a timeout it shows the peers' logs.
func waitFor(ctx context.Context, t *testing.T, dir, what string, cond func() (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 4*time.Minute, true, func(context.Context) (bool, error) { return cond() })
	if err != nil {
		for _, p := range []string{"csi-provisioner", "csi-resizer", "kube-controller-manager"} {
			b, _ := os.ReadFile(filepath.Join(dir, p+".log"))
			t.Logf("%s log (last 3000 bytes):\n%s", p, tail(b, 3000))
		}
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
