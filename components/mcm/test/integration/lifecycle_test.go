package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	mcmv1alpha1 "github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	metalv1alpha1 "github.com/ironcore-dev/metal-operator/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/shared/testkit"
)

// TestMachineLifecycle: a MachineClass and a Machine make a claimed server, a
// registered Node and a Running Machine; deleting the Machine makes the server
// Available again and leaves nothing behind.
func TestMachineLifecycle(t *testing.T) {
	t.Parallel()
	f := newFleet(t, "life", 2)
	f.createClass(t, true)
	p := startProvider(t, f, providerOpts{})
	defer p.stop(t)
	ctx := context.Background()
	start := time.Now()
	if err := env.Client.Create(ctx, newMachine(f.ns, "life-m1")); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyWithin(t, time.Minute, "machine running", machinesRunning(f.ns, 1))
	t.Logf("machine running after %s", time.Since(start).Round(time.Millisecond))

	w := observe(t, f.ns)
	claim, ok := w.claims["life-m1"]
	if !ok || claim.Spec.ServerRef == nil || claim.Status.Phase != metalv1alpha1.PhaseBound || claim.Spec.Power != metalv1alpha1.PowerOn {
		t.Fatalf("claim = %+v", claim)
	}
	m := w.machines["life-m1"]
	if m.Spec.ProviderID != "metal://life/life-m1" || m.Labels["node"] != "life-m1" {
		t.Errorf("machine provider ID %q, node label %q", m.Spec.ProviderID, m.Labels["node"])
	}
	node := &corev1.Node{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "life-m1"}, node); err != nil {
		t.Fatalf("node not registered: %v", err)
	}
	if len(w.ipClaims) != 1 {
		t.Errorf("%d IP claims, want 1", len(w.ipClaims))
	}

	if err := env.Client.Delete(ctx, &m); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	testkit.EventuallyWithin(t, 2*time.Minute, "machine deleted", func() error {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(&m), &mcmv1alpha1.Machine{})
		if err == nil {
			return fmt.Errorf("machine still there")
		}
		return ignoreNotFound(err)
	})
	t.Logf("machine deleted after %s", time.Since(start).Round(time.Millisecond))
	srv := &metalv1alpha1.Server{}
	testkit.EventuallyWithin(t, 10*time.Second, "server available", func() error {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: claim.Spec.ServerRef.Name}, srv); err != nil {
			return err
		}
		if srv.Status.State != metalv1alpha1.ServerStateAvailable || srv.Spec.ServerClaimRef != nil {
			return fmt.Errorf("server %s is %s, claim ref %v", srv.Name, srv.Status.State, srv.Spec.ServerClaimRef)
		}
		return nil
	})
	checkEmpty(t, f.ns)
}

// TestInvalidProviderSpec: a Machine of a class with a bad spec fails creation
// with the bad fields named, and claims nothing.
func TestInvalidProviderSpec(t *testing.T) {
	t.Parallel()
	f := newFleet(t, "invalid", 1)
	ctx := context.Background()
	class := &mcmv1alpha1.MachineClass{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "class"},
		ProviderSpec: runtime.RawExtension{Raw: []byte(`{"image":"","size":"a b","serverLabels":{"bad key":"x"}}`)},
		SecretRef:    &corev1.SecretReference{Namespace: f.ns, Name: "class"}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "class"}, Data: map[string][]byte{"userData": []byte("#cloud-config\n")}}
	for _, o := range []client.Object{secret, class, newMachine(f.ns, "invalid-m1")} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	p := startProvider(t, f, providerOpts{})
	defer p.stop(t)
	testkit.EventuallyWithin(t, 30*time.Second, "creation failure reported", func() error {
		m := &mcmv1alpha1.Machine{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "invalid-m1"}, m); err != nil {
			return err
		}
		op := m.Status.LastOperation
		for _, want := range []string{"InvalidArgument", "providerSpec.image", "providerSpec.size", "providerSpec.serverLabels"} {
			if !strings.Contains(op.Description+" "+op.ErrorCode, want) {
				return fmt.Errorf("last operation %q (%s) does not mention %s", op.Description, op.ErrorCode, want)
			}
		}
		return nil
	})
	if w := observe(t, f.ns); len(w.claims) != 0 {
		t.Errorf("invalid spec claimed servers: %v", w.claims)
	}
}
