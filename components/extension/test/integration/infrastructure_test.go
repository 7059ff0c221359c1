package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
	"github.com/metalkube/metalkube/shared/metal"
)

const infraConfig = `{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"InfrastructureConfig",
"networks":{"external":["internet"]},"egressIPs":[{"network":"internet","count":2}]}`

func newInfra(ns string, annotations map[string]string) *extensionsv1alpha1.Infrastructure {
	return &extensionsv1alpha1.Infrastructure{
		ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: ns, Annotations: annotations},
		Spec: extensionsv1alpha1.InfrastructureSpec{
			DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: "metalkube", ProviderConfig: rawString(infraConfig)},
			Region:      "fra",
			SecretRef:   corev1SecretRef(ns),
		},
	}
}

func providerStatus(t *testing.T, infra *extensionsv1alpha1.Infrastructure) *v1alpha1.InfrastructureStatus {
	t.Helper()
	st, err := codec.New().InfrastructureStatus(infra.Status.ProviderStatus)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestInfrastructureLifecycle: reconcile allocates the node network and
// egress IPs and reports them; migrate keeps them in the backend; restore on
// a new object adopts the same ones; delete frees everything.
func TestInfrastructureLifecycle(t *testing.T) {
	be := start(t)
	ctx := context.Background()
	ns := newShoot(t, "infra", workerPool("pool-a", "fra-2"))

	infra := newInfra(ns, opAnnotation("reconcile"))
	if err := env.Client.Create(ctx, infra); err != nil {
		t.Fatal(err)
	}
	waitSucceeded(t, infra, gardencorev1beta1.LastOperationTypeReconcile, 30*time.Second)

	nets, err := be.FindNetworks(ctx, ns)
	if err != nil || len(nets) != 1 {
		t.Fatalf("backend networks of %s = %v, %v; want one", ns, nets, err)
	}
	st := providerStatus(t, infra)
	if st.Network == nil || st.Network.ID != nets[0].ID || !st.Network.Managed {
		t.Fatalf("providerStatus.network = %+v, want managed %s", st.Network, nets[0].ID)
	}
	if st.Partition != "fra-rack-2" {
		t.Errorf("partition = %q, want fra-rack-2 (zone fra-2 of the first pool, mapped by the CloudProfile)", st.Partition)
	}
	nw := infra.Status.Networking
	if nw == nil || !slices.Equal(nw.Nodes, []string{nets[0].Prefixes[0].String()}) ||
		!slices.Equal(nw.Pods, []string{"100.96.0.0/11"}) || !slices.Equal(nw.Services, []string{"100.64.0.0/13"}) {
		t.Errorf("status.networking = %+v", nw)
	}
	ips, _ := be.FindIPs(ctx, metal.IPQuery{Cluster: ns})
	if len(ips) != 2 || len(st.EgressIPs) != 2 || len(infra.Status.EgressCIDRs) != 2 {
		t.Fatalf("egress: backend %d, status %d, egressCIDRs %v; want 2 each", len(ips), len(st.EgressIPs), infra.Status.EgressCIDRs)
	}
	if infra.Status.State == nil {
		t.Fatal("status.state is empty")
	}

	// Migrate: the backend keeps everything, the object loses its finalizer.
	annotate(t, infra, "migrate")
	waitSucceeded(t, infra, gardencorev1beta1.LastOperationTypeMigrate, 30*time.Second)
	state := infra.Status.State.DeepCopy()
	if err := env.Client.Delete(ctx, infra); err != nil {
		t.Fatal(err)
	}
	waitGone(t, infra, 10*time.Second)
	if nets2, _ := be.FindNetworks(ctx, ns); len(nets2) != 1 {
		t.Fatalf("after migrate the backend has %d networks, want the one kept", len(nets2))
	}

	// Restore the way gardenlet does: wait-for-state, state, restore.
	restored := newInfra(ns, opAnnotation("wait-for-state"))
	if err := env.Client.Create(ctx, restored); err != nil {
		t.Fatal(err)
	}
	restored.Status.State = state
	if err := env.Client.Status().Update(ctx, restored); err != nil {
		t.Fatal(err)
	}
	annotate(t, restored, "restore")
	waitSucceeded(t, restored, gardencorev1beta1.LastOperationTypeRestore, 30*time.Second)
	rst := providerStatus(t, restored)
	if rst.Network == nil || rst.Network.ID != st.Network.ID {
		t.Errorf("restored network = %+v, want %s", rst.Network, st.Network.ID)
	}
	if !slices.Equal(addresses(rst.EgressIPs), addresses(st.EgressIPs)) {
		t.Errorf("restored egress IPs = %v, want %v", addresses(rst.EgressIPs), addresses(st.EgressIPs))
	}
	if nets2, _ := be.FindNetworks(ctx, ns); len(nets2) != 1 {
		t.Errorf("after restore the backend has %d networks, want 1", len(nets2))
	}
	if ips2, _ := be.FindIPs(ctx, metal.IPQuery{Cluster: ns}); len(ips2) != 2 {
		t.Errorf("after restore the backend has %d IPs, want 2", len(ips2))
	}

	// Delete frees the network and the IPs.
	if err := env.Client.Delete(ctx, restored); err != nil {
		t.Fatal(err)
	}
	waitGone(t, restored, 30*time.Second)
	if nets3, _ := be.FindNetworks(ctx, ns); len(nets3) != 0 {
		t.Errorf("after delete the backend still has networks %v", nets3)
	}
	if ips3, _ := be.FindIPs(ctx, metal.IPQuery{Cluster: ns}); len(ips3) != 0 {
		t.Errorf("after delete the backend still has IPs %v", ips3)
	}
}

func addresses(ips []v1alpha1.IPStatus) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.Address)
	}
	slices.Sort(out)
	return out
}

// TestInfrastructureWithoutNetworkAPI: a backend without networks (ironcore)
// records none and still succeeds, with the Shoot's node CIDR as networking.
func TestInfrastructureWithoutNetworkAPI(t *testing.T) {
	be := start(t)
	ctx := context.Background()
	ns := newShoot(t, "nonet", workerPool("pool-a", "fra-1"))
	be.disableNetworks(ns)

	infra := newInfra(ns, opAnnotation("reconcile"))
	if err := env.Client.Create(ctx, infra); err != nil {
		t.Fatal(err)
	}
	waitSucceeded(t, infra, gardencorev1beta1.LastOperationTypeReconcile, 30*time.Second)
	st := providerStatus(t, infra)
	if !st.NetworksUnsupported || st.Network != nil {
		t.Errorf("providerStatus = %+v, want networksUnsupported and no network", st)
	}
	if nw := infra.Status.Networking; nw == nil || !slices.Equal(nw.Nodes, []string{"10.250.0.0/16"}) {
		t.Errorf("status.networking = %+v, want the Shoot's nodes CIDR", nw)
	}
	if err := env.Client.Delete(ctx, infra); err != nil {
		t.Fatal(err)
	}
	waitGone(t, infra, 30*time.Second)
	if ips, _ := be.FindIPs(ctx, metal.IPQuery{Cluster: ns}); len(ips) != 0 {
		t.Errorf("after delete the backend still has IPs %v", ips)
	}
}
