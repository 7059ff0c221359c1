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
	"k8s.io/apimachinery/pkg/runtime"
	kubeletconfigv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/provider"
	"github.com/metalkube/metalkube/components/extension/scheme"
)

func deployment(container string, command ...string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: container, Namespace: "shoot--dev--a"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: container, Command: command}},
		}}},
	}
}

const cloudProfileConfig = `{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"CloudProfileConfig",
"machineImages":[{"name":"gardenlinux","versions":[{"version":"1","image":"gl"}]}],
"regions":[{"name":"fra","namespace":"metal-fra","ipPools":[{"network":"internet","kind":"GlobalInClusterIPPool","name":"internet"}]}]}`

func cluster(infraConfig string) *extensionscontroller.Cluster {
	shoot := &gardencorev1beta1.Shoot{Spec: gardencorev1beta1.ShootSpec{Region: "fra", Provider: gardencorev1beta1.Provider{Workers: []gardencorev1beta1.Worker{{Name: "a"}}}}}
	if infraConfig != "" {
		shoot.Spec.Provider.InfrastructureConfig = &runtime.RawExtension{Raw: []byte(infraConfig)}
	}
	return &extensionscontroller.Cluster{
		Shoot:        shoot,
		CloudProfile: &gardencorev1beta1.CloudProfile{Spec: gardencorev1beta1.CloudProfileSpec{ProviderConfig: &runtime.RawExtension{Raw: []byte(cloudProfileConfig)}}},
	}
}

func newEnsurer(objs ...client.Object) *Ensurer {
	return &Ensurer{MCMImage: "metalkube:v1", Codec: codec.New(), Client: fake.NewClientBuilder().WithScheme(scheme.Seed()).WithObjects(objs...).Build()}
}

func TestEnsurer(t *testing.T) {
	ctx := context.Background()
	const ns = "shoot--dev--a"
	e := newEnsurer(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cloudprovider", Namespace: ns}, Data: map[string][]byte{"kubeconfig": []byte("k")}})
	gctx := extensionscontextwebhook.NewInternalGardenContext(cluster(""))

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
		// The backend the cloudprovider Secret names, with the region's
		// namespace and IP pool, each flag once.
		for _, want := range []string{"--backend=ironcore", "--metal-kubeconfig=/srv/cloudprovider/kubeconfig", "--metal-namespace=metal-fra",
			"--ip-pool=internet=ipam.cluster.x-k8s.io/GlobalInClusterIPPool/internet"} {
			if n := slices.Index(s.Args, want); n < 0 || slices.Contains(s.Args[n+1:], want) {
				t.Errorf("sidecar args %v: want %s once", s.Args, want)
			}
		}
		if !slices.ContainsFunc(s.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == "cloudprovider" && m.MountPath == "/srv/cloudprovider" && m.ReadOnly
		}) {
			t.Errorf("sidecar mounts %v: no cloudprovider Secret", s.VolumeMounts)
		}
		vols := d.Spec.Template.Spec.Volumes
		if len(vols) != 1 || vols[0].Secret == nil || vols[0].Secret.SecretName != "cloudprovider" {
			t.Errorf("volumes = %v, want the cloudprovider Secret once", vols)
		}
	})
	t.Run("machine-controller-manager on metal-stack gets the project and the key file", func(t *testing.T) {
		e := newEnsurer(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cloudprovider", Namespace: ns},
			Data: map[string][]byte{"metalAPIURL": []byte("http://metal-api:8080"), "metalAPIHMac": []byte("s3cret")}})
		// No Infrastructure exists yet (gardenlet deploys
		// machine-controller-manager regardless): the partition comes from
		// the worker's zone and the CloudProfile's mapping of it.
		gctx := extensionscontextwebhook.NewInternalGardenContext(cluster(`{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"InfrastructureConfig","project":"p-1"}`))
		d := deployment("machine-controller-manager", "/mcm")
		// metal-stack has its own IP API: the region's IPAM pools are refused.
		if err := e.EnsureMachineControllerManagerDeployment(ctx, gctx, d, nil); err == nil || !strings.Contains(err.Error(), "ipPools") {
			t.Fatalf("err = %v, want the region's ipPools refused", err)
		}
		c := cluster(`{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"InfrastructureConfig","project":"p-1"}`)
		c.CloudProfile.Spec.ProviderConfig = &runtime.RawExtension{Raw: []byte(strings.Replace(cloudProfileConfig,
			`,"ipPools":[{"network":"internet","kind":"GlobalInClusterIPPool","name":"internet"}]`, `,"zones":[{"name":"z1","partition":"fra-1"}]`, 1))}
		c.Shoot.Spec.Provider.Workers[0].Zones = []string{"z1"}
		if err := e.EnsureMachineControllerManagerDeployment(ctx, extensionscontextwebhook.NewInternalGardenContext(c), d, nil); err != nil {
			t.Fatal(err)
		}
		args := d.Spec.Template.Spec.Containers[1].Args
		for _, want := range []string{"--backend=metalstack", "--metal-api-url=http://metal-api:8080", "--metal-api-hmac-file=/srv/cloudprovider/metalAPIHMac",
			"--metal-project=p-1", "--metal-partition=fra-1"} {
			if !slices.Contains(args, want) {
				t.Errorf("sidecar args %v lack %s", args, want)
			}
		}
		if slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, "s3cret") }) {
			t.Errorf("sidecar args %v carry the HMAC key", args)
		}
	})
	t.Run("machine-controller-manager without a cloudprovider Secret is an error", func(t *testing.T) {
		d := deployment("machine-controller-manager", "/mcm")
		d.Namespace = "shoot--other"
		if err := e.EnsureMachineControllerManagerDeployment(ctx, gctx, d, nil); err == nil || !strings.Contains(err.Error(), "cloudprovider secret shoot--other/cloudprovider") {
			t.Fatalf("err = %v", err)
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
