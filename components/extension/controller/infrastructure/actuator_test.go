package infrastructure

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	extensionscontroller "github.com/gardener/gardener/extensions/pkg/controller"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/scheme"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/memory"
	"github.com/metalkube/metalkube/shared/metalapi"
)

// fixed gives every shoot the one backend of a test.
func fixed(be Backend) BackendFunc {
	return func(context.Context, *extensionsv1alpha1.Infrastructure, *extensionscontroller.Cluster, string) (Backend, error) {
		return be, nil
	}
}

func setup(t *testing.T, cfg string) (*Actuator, *memory.Backend, *extensionsv1alpha1.Infrastructure) {
	t.Helper()
	infra := &extensionsv1alpha1.Infrastructure{
		ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: "shoot--a--b"},
		Spec: extensionsv1alpha1.InfrastructureSpec{Region: "fra",
			DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: "metalkube", ProviderConfig: &runtime.RawExtension{Raw: []byte(cfg)}}},
	}
	c := fake.NewClientBuilder().WithScheme(scheme.Seed()).WithObjects(infra).WithStatusSubresource(infra).Build()
	be := memory.New(memory.Config{Pools: []memory.Pool{{Network: "internet", Prefix: netip.MustParsePrefix("198.51.100.0/24")}}})
	return &Actuator{Client: c, Backend: fixed(be), Codec: codec.New()}, be, infra
}

func TestReconcileShrinksEgressAndIsIdempotent(t *testing.T) {
	ctx := context.Background()
	a, be, infra := setup(t, `{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"InfrastructureConfig","egressIPs":[{"network":"internet","count":3}]}`)
	for range 2 {
		if err := a.Reconcile(ctx, logr.Discard(), infra, nil); err != nil {
			t.Fatal(err)
		}
	}
	if ips, _ := be.FindIPs(ctx, metal.IPQuery{Cluster: infra.Namespace}); len(ips) != 3 {
		t.Fatalf("after two reconciles: %d IPs, want 3", len(ips))
	}
	infra.Spec.ProviderConfig.Raw = []byte(`{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"InfrastructureConfig","egressIPs":[{"network":"internet","count":1}]}`)
	if err := a.Reconcile(ctx, logr.Discard(), infra, nil); err != nil {
		t.Fatal(err)
	}
	if ips, _ := be.FindIPs(ctx, metal.IPQuery{Cluster: infra.Namespace}); len(ips) != 1 {
		t.Fatalf("after shrinking to 1: %d IPs", len(ips))
	}
	if len(infra.Status.EgressCIDRs) != 1 {
		t.Errorf("egressCIDRs = %v", infra.Status.EgressCIDRs)
	}
	if nets, _ := be.FindNetworks(ctx, infra.Namespace); len(nets) != 1 {
		t.Errorf("networks = %d, want 1", len(nets))
	}
}

func TestBackendOutage(t *testing.T) {
	ctx := context.Background()
	a, be, infra := setup(t, `{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"InfrastructureConfig"}`)
	be.SetUnavailable(true)
	if err := a.Reconcile(ctx, logr.Discard(), infra, nil); !errors.Is(err, metal.ErrUnavailable) {
		t.Fatalf("reconcile during outage: %v, want ErrUnavailable", err)
	}
	if err := a.Delete(ctx, logr.Discard(), infra, nil); !errors.Is(err, metal.ErrUnavailable) {
		t.Fatalf("delete during outage: %v, want ErrUnavailable (retried, nothing leaks)", err)
	}
	if err := a.ForceDelete(ctx, logr.Discard(), infra, nil); err != nil {
		t.Fatalf("force delete during outage: %v, want nil", err)
	}
}

// TestShootBackend: each shoot's network is allocated with its own
// cloudprovider Secret in its own project (the InfrastructureConfig's), not
// with one backend of the extension: two shoots of two projects on one
// metal-api get their networks in their projects, where their machines go.
func TestShootBackend(t *testing.T) {
	ctx := context.Background()
	const key = "hmac-key"
	api := metalapi.New(metalapi.Config{
		Networks: []metalapi.Network{{ID: "super", Partition: "fra-1", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, PrivateSuper: true, ChildLength: 24}},
		Projects: []string{"p-a", "p-b"},
		HMAC:     map[string]string{"Metal-Admin": key},
	})
	defer api.Close()
	c := fake.NewClientBuilder().WithScheme(scheme.Seed()).WithStatusSubresource(&extensionsv1alpha1.Infrastructure{}).Build()
	a := &Actuator{Client: c, Codec: codec.New(), Backend: ShootBackend(c, codec.New())}
	for _, project := range []string{"p-a", "p-b"} {
		ns := "shoot--" + project + "--x"
		cfg := `{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"InfrastructureConfig","partition":"fra-1","project":"` + project + `"}`
		infra := &extensionsv1alpha1.Infrastructure{
			ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: ns},
			Spec: extensionsv1alpha1.InfrastructureSpec{Region: "fra", SecretRef: corev1.SecretReference{Name: "cloudprovider", Namespace: ns},
				DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: "metalkube", ProviderConfig: &runtime.RawExtension{Raw: []byte(cfg)}}},
		}
		cluster := &extensionscontroller.Cluster{Shoot: &gardencorev1beta1.Shoot{Spec: gardencorev1beta1.ShootSpec{Region: "fra",
			Provider: gardencorev1beta1.Provider{InfrastructureConfig: &runtime.RawExtension{Raw: []byte(cfg)}}}}}
		for _, o := range []client.Object{infra, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cloudprovider", Namespace: ns},
			Data: map[string][]byte{"metalAPIURL": []byte(api.URL()), "metalAPIHMac": []byte(key + "\n")}}} {
			if err := c.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Reconcile(ctx, logr.Discard(), infra, cluster); err != nil {
			t.Fatalf("%s: %v", project, err)
		}
		st, err := a.Codec.InfrastructureStatus(infra.Status.ProviderStatus)
		if err != nil || st.Network == nil {
			t.Fatalf("%s: status %+v, %v", project, st, err)
		}
		if got := api.NetworkProject(st.Network.ID); got != project {
			t.Errorf("network of shoot %s is in project %q, want %q", ns, got, project)
		}
		if err := a.Delete(ctx, logr.Discard(), infra, cluster); err != nil {
			t.Fatalf("%s: delete: %v", project, err)
		}
	}
	if left := api.Networks(); len(left) != 0 {
		t.Errorf("networks left after delete: %v", left)
	}

	// A project with ironcore credentials is refused by the Infrastructure,
	// the shoot's first extension step, naming the field and its value.
	ic := `{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"InfrastructureConfig","project":"p-a"}`
	ironcore := &extensionsv1alpha1.Infrastructure{ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: "shoot--ic--x"},
		Spec: extensionsv1alpha1.InfrastructureSpec{SecretRef: corev1.SecretReference{Name: "cloudprovider"},
			DefaultSpec: extensionsv1alpha1.DefaultSpec{ProviderConfig: &runtime.RawExtension{Raw: []byte(ic)}}}}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cloudprovider", Namespace: "shoot--ic--x"},
		Data: map[string][]byte{"kubeconfig": []byte("apiVersion: v1\nkind: Config\n")}}); err != nil {
		t.Fatal(err)
	}
	icCluster := &extensionscontroller.Cluster{Shoot: &gardencorev1beta1.Shoot{Spec: gardencorev1beta1.ShootSpec{Region: "fra",
		Provider: gardencorev1beta1.Provider{InfrastructureConfig: &runtime.RawExtension{Raw: []byte(ic)}}}}}
	if err := a.Reconcile(ctx, logr.Discard(), ironcore, icCluster); err == nil || !strings.Contains(err.Error(), `infrastructureConfig.project="p-a"`) {
		t.Fatalf("reconcile with ironcore credentials and a project: %v, want the project refused", err)
	}

	// A shoot whose Secret is gone cannot be reconciled, and the error says
	// which Secret.
	infra := &extensionsv1alpha1.Infrastructure{ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: "shoot--gone--x"},
		Spec: extensionsv1alpha1.InfrastructureSpec{SecretRef: corev1.SecretReference{Name: "cloudprovider"},
			DefaultSpec: extensionsv1alpha1.DefaultSpec{ProviderConfig: &runtime.RawExtension{Raw: []byte(`{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"InfrastructureConfig"}`)}}}}
	if err := a.Reconcile(ctx, logr.Discard(), infra, nil); err == nil || !strings.Contains(err.Error(), "shoot--gone--x/cloudprovider") {
		t.Fatalf("reconcile without its Secret: %v, want an error naming shoot--gone--x/cloudprovider", err)
	}
}
