package machines

import (
	"strings"
	"testing"

	extensionscontroller "github.com/gardener/gardener/extensions/pkg/controller"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
	mcmv1alpha1 "github.com/metalkube/metalkube/shared/apis/mcm/v1alpha1"
)

func input(cpc *v1alpha1.CloudProfileConfig, status *v1alpha1.WorkerStatus) *Input {
	w := &extensionsv1alpha1.Worker{
		ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: "shoot--a--b"},
		Spec: extensionsv1alpha1.WorkerSpec{Region: "fra", Pools: []extensionsv1alpha1.WorkerPool{{
			Name: "p", Minimum: 3, Maximum: 5, MachineType: "m", Zones: []string{"z1", "z2"},
			MachineImage:        extensionsv1alpha1.MachineImage{Name: "gardenlinux", Version: "1.0"},
			NodeAgentSecretName: ptr.To("gna"),
		}}},
	}
	cluster := &extensionscontroller.Cluster{Shoot: &gardencorev1beta1.Shoot{Spec: gardencorev1beta1.ShootSpec{Kubernetes: gardencorev1beta1.Kubernetes{Version: "1.36.4"}}}}
	return &Input{Worker: w, Cluster: cluster, CloudProfile: cpc, Status: status, Infra: &v1alpha1.InfrastructureStatus{}, Pools: map[string]*v1alpha1.WorkerConfig{}, TechnicalID: w.Namespace}
}

func TestRender(t *testing.T) {
	cpc := &v1alpha1.CloudProfileConfig{MachineImages: []v1alpha1.MachineImages{{Name: "gardenlinux", Versions: []v1alpha1.MachineImageVersion{{Version: "1.0", Image: "img:1"}}}}}
	for _, tc := range []struct {
		name      string
		cpc       *v1alpha1.CloudProfileConfig
		status    *v1alpha1.WorkerStatus
		wantImage string
		wantErr   string
	}{
		{name: "from the CloudProfile", cpc: cpc, wantImage: "img:1"},
		{name: "version gone from the profile, kept in status", cpc: &v1alpha1.CloudProfileConfig{},
			status:    &v1alpha1.WorkerStatus{MachineImages: []v1alpha1.MachineImage{{Name: "gardenlinux", Version: "1.0", Image: "img:old"}}},
			wantImage: "img:old"},
		{name: "unknown everywhere", cpc: &v1alpha1.CloudProfileConfig{}, wantErr: "no backend image for machine image gardenlinux version 1.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Render(input(tc.cpc, tc.status), map[string][]byte{"p": []byte("ud")})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Classes) != 2 || len(r.Deployments) != 2 || len(r.Secrets) != 2 {
				t.Fatalf("rendered %d classes, %d deployments, %d secrets; want 2 each", len(r.Classes), len(r.Deployments), len(r.Secrets))
			}
			if r.Images[0].Image != tc.wantImage {
				t.Errorf("image = %s, want %s", r.Images[0].Image, tc.wantImage)
			}
			// 3 machines over 2 zones: 2 + 1.
			if r.Deployments[0].Minimum+r.Deployments[1].Minimum != 3 {
				t.Errorf("minimum not distributed: %d + %d", r.Deployments[0].Minimum, r.Deployments[1].Minimum)
			}
			if r.Classes[0].Annotations[AnnotationSpecHash] == "" {
				t.Error("machine class has no spec hash")
			}
		})
	}
}

// TestMachineTypeLabelsWin: a shoot's serverLabels may add to the machine
// type's labels but never replace them, so a tenant cannot steer its machines
// onto servers the CloudProfile reserves for others.
func TestMachineTypeLabelsWin(t *testing.T) {
	cpc := &v1alpha1.CloudProfileConfig{
		MachineImages: []v1alpha1.MachineImages{{Name: "gardenlinux", Versions: []v1alpha1.MachineImageVersion{{Version: "1.0", Image: "img:1"}}}},
		MachineTypes:  []v1alpha1.MachineType{{Name: "m", ServerLabels: map[string]string{"pool": "shared"}}},
	}
	in := input(cpc, nil)
	in.Pools["p"] = &v1alpha1.WorkerConfig{ServerLabels: map[string]string{"pool": "reserved-for-others", "rack": "r1"}}
	r, err := Render(in, map[string][]byte{"p": []byte("ud")})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Classes {
		spec, errs := mcmv1alpha1.Decode(c.ProviderSpec.Raw)
		if len(errs) > 0 {
			t.Fatal(errs.ToAggregate())
		}
		if spec.ServerLabels["pool"] != "shared" || spec.ServerLabels["rack"] != "r1" {
			t.Errorf("class %s server labels = %v, want pool=shared (CloudProfile) and rack=r1 (shoot)", c.Name, spec.ServerLabels)
		}
	}
	if cpc.MachineTypes[0].ServerLabels["rack"] != "" {
		t.Error("the CloudProfile's labels were written to")
	}
}
