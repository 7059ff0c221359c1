package infrastructure

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/scheme"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/memory"
)

func setup(t *testing.T, cfg string) (*Actuator, *memory.Backend, *extensionsv1alpha1.Infrastructure) {
	t.Helper()
	infra := &extensionsv1alpha1.Infrastructure{
		ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: "shoot--a--b"},
		Spec: extensionsv1alpha1.InfrastructureSpec{Region: "fra",
			DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: "metalkube", ProviderConfig: &runtime.RawExtension{Raw: []byte(cfg)}}},
	}
	c := fake.NewClientBuilder().WithScheme(scheme.Seed()).WithObjects(infra).WithStatusSubresource(infra).Build()
	be := memory.New(memory.Config{Pools: []memory.Pool{{Network: "internet", Prefix: netip.MustParsePrefix("198.51.100.0/24")}}})
	return &Actuator{Client: c, Metal: be, Codec: codec.New()}, be, infra
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
