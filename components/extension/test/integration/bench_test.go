package integration

import (
	"context"
	"fmt"
	"testing"

	extensionscontroller "github.com/gardener/gardener/extensions/pkg/controller"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/controller/worker"
)

// BenchmarkWorkerReconcile measures the provider's share of a Worker
// reconcile (render, write MachineClasses and Secrets, record machine
// images) for 10 pools x 3 zones against the real API server, in steady
// state (nothing changed since the last reconcile):
//
//   - metalkube: skips objects whose spec hash is unchanged (2 LISTs);
//   - reference: applies every object on every reconcile, as the upstream
//     providers do (60 server-side apply PATCHes).
//
// The generic actuator's wait for MCM (5 s polls) is not part of it.
func BenchmarkWorkerReconcile(b *testing.B) {
	ctx := context.Background()
	var zones = []string{"fra-1", "fra-2", "fra-3"}
	var gpools []gardencorev1beta1.Worker
	var pools []extensionsv1alpha1.WorkerPool
	for i := range 10 {
		name := fmt.Sprintf("pool-%d", i)
		gpools = append(gpools, workerPool(name, zones...))
		pools = append(pools, pool(name, "amd64", workerConfig, zones...))
	}
	for _, mode := range []struct {
		name   string
		always bool
	}{{"metalkube", false}, {"reference", true}} {
		b.Run(mode.name, func(b *testing.B) {
			ns := newShoot(b, "bench", gpools...)
			createUserData(b, ns)
			w := newWorker(ns, pools...)
			w.Annotations = nil // not reconciled by the running controller
			w.Spec.Type = "benchmark"
			if err := env.Client.Create(ctx, w); err != nil {
				b.Fatal(err)
			}
			cluster := benchCluster(b, ns)
			f := &worker.DelegateFactory{Client: env.Client, Codec: codec.New(), AlwaysApply: mode.always}
			reconcile := func() {
				d, err := f.WorkerDelegate(ctx, w, cluster)
				if err != nil {
					b.Fatal(err)
				}
				mds, err := d.GenerateMachineDeployments(ctx)
				if err != nil || len(mds) != 30 {
					b.Fatalf("%d deployments, %v", len(mds), err)
				}
				if err := d.DeployMachineClasses(ctx); err != nil {
					b.Fatal(err)
				}
				if err := d.UpdateMachineImagesStatus(ctx); err != nil {
					b.Fatal(err)
				}
			}
			reconcile() // first reconcile creates everything
			b.ResetTimer()
			for b.Loop() {
				reconcile()
			}
		})
	}
}

func benchCluster(b *testing.B, ns string) *extensionscontroller.Cluster {
	b.Helper()
	return &extensionscontroller.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: ns},
		Shoot: &gardencorev1beta1.Shoot{
			ObjectMeta: metav1.ObjectMeta{Name: "bench"},
			Spec: gardencorev1beta1.ShootSpec{Region: "fra", Kubernetes: gardencorev1beta1.Kubernetes{Version: "1.36.4"},
				Networking: &gardencorev1beta1.Networking{Nodes: ptr.To("10.250.0.0/16")}},
			Status: gardencorev1beta1.ShootStatus{TechnicalID: ns},
		},
		CloudProfile: &gardencorev1beta1.CloudProfile{
			ObjectMeta: metav1.ObjectMeta{Name: "metalkube"},
			Spec: gardencorev1beta1.CloudProfileSpec{Type: "metalkube", ProviderConfig: rawString(cloudProfileConfig),
				MachineTypes: []gardencorev1beta1.MachineType{{Name: "c1-large", CPU: resource.MustParse("32"), Memory: resource.MustParse("256Gi")}}},
		},
		Seed: &gardencorev1beta1.Seed{},
	}
}
