package controlplane

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"
	extensionscontroller "github.com/gardener/gardener/extensions/pkg/controller"
	extensionscontextwebhook "github.com/gardener/gardener/extensions/pkg/webhook/context"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeletconfigv1beta1 "k8s.io/kubelet/config/v1beta1"

	"github.com/metalkube/metalkube/components/extension/pkg/provider"
)

func deployment(container string, command ...string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: container, Namespace: "shoot--dev--a"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: container, Command: command}},
		}}},
	}
}

func TestEnsurer(t *testing.T) {
	ctx := context.Background()
	e := &Ensurer{MCMImage: "metalkube:v1"}
	gctx := extensionscontextwebhook.NewInternalGardenContext(&extensionscontroller.Cluster{
		Shoot: &gardencorev1beta1.Shoot{Spec: gardencorev1beta1.ShootSpec{Provider: gardencorev1beta1.Provider{Workers: []gardencorev1beta1.Worker{{Name: "a"}}}}},
	})

	t.Run("kube-apiserver drops in-tree cloud flags", func(t *testing.T) {
		d := deployment("kube-apiserver", "/kube-apiserver", "--cloud-provider=aws", "--cloud-config=/x", "--v=2")
		if err := e.EnsureKubeAPIServerDeployment(ctx, gctx, d, nil); err != nil {
			t.Fatal(err)
		}
		if got := d.Spec.Template.Spec.Containers[0].Command; !slices.Equal(got, []string{"/kube-apiserver", "--v=2"}) {
			t.Errorf("command = %v", got)
		}
	})
	t.Run("kube-controller-manager runs with the external cloud provider", func(t *testing.T) {
		d := deployment("kube-controller-manager", "/kcm", "--cloud-provider=gce")
		if err := e.EnsureKubeControllerManagerDeployment(ctx, gctx, d, nil); err != nil {
			t.Fatal(err)
		}
		got := d.Spec.Template.Spec.Containers[0].Command
		if !slices.Contains(got, "--cloud-provider=external") || !slices.Contains(got, "--configure-cloud-routes=false") || slices.Contains(got, "--cloud-provider=gce") {
			t.Errorf("command = %v", got)
		}
	})
	t.Run("machine-controller-manager gets the metalkube mcm sidecar once", func(t *testing.T) {
		d := deployment("machine-controller-manager", "/mcm")
		for range 2 {
			if err := e.EnsureMachineControllerManagerDeployment(ctx, gctx, d, nil); err != nil {
				t.Fatal(err)
			}
		}
		cs := d.Spec.Template.Spec.Containers
		if len(cs) != 2 {
			t.Fatalf("containers = %d, want mcm + sidecar", len(cs))
		}
		s := cs[1]
		if s.Name != "machine-controller-manager-"+provider.Name || s.Image != "metalkube:v1" || s.Args[0] != "mcm" ||
			!slices.Contains(s.Args, "--namespace=shoot--dev--a") {
			t.Errorf("sidecar = %s %s %v", s.Name, s.Image, s.Args)
		}
	})
	t.Run("kubelet runs with the external cloud provider", func(t *testing.T) {
		opts := []*unit.UnitOption{{Section: "Service", Name: "ExecStart", Value: "/opt/bin/kubelet \\\n    --cloud-provider=aws \\\n    --v=2"}}
		out, err := e.EnsureKubeletServiceUnitOptions(ctx, gctx, nil, opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v := out[0].Value; !strings.Contains(v, "--cloud-provider=external") || strings.Contains(v, "aws") {
			t.Errorf("ExecStart = %q", v)
		}
		cfg := &kubeletconfigv1beta1.KubeletConfiguration{}
		if err := e.EnsureKubeletConfiguration(ctx, gctx, nil, cfg, nil); err != nil {
			t.Fatal(err)
		}
		if cfg.EnableControllerAttachDetach == nil || !*cfg.EnableControllerAttachDetach {
			t.Error("enableControllerAttachDetach not set")
		}
	})
}
