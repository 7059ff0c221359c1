package webhook

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/metalkube/metalkube/components/capi/apis/infrastructure/v1alpha1"
	"github.com/metalkube/metalkube/components/capi/app"
	"github.com/metalkube/metalkube/components/capi/webhooks"
	"github.com/metalkube/metalkube/shared/metal/memory"
	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	mutating, validating := webhooks.Configurations("metalkube-capi", admissionv1.ServiceReference{Namespace: "metalkube-system", Name: "metalkube-capi-webhook"})
	os.Exit(testenv.Main(m, testenv.Options{
		CRDPaths: []string{"../../config/crd"},
		Scheme:   app.NewScheme(),
		Webhooks: testenv.WebhookConfigurations{Mutating: []*admissionv1.MutatingWebhookConfiguration{mutating}, Validating: []*admissionv1.ValidatingWebhookConfiguration{validating}},
	}, &env))
}

// TestWebhooksThroughTheAPIServer: with `metalkube capi` serving its
// webhooks, the API server defaults a MetalCluster's port and refuses what
// the provider cannot serve, naming field and value.
func TestWebhooksThroughTheAPIServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := env.Client
	w := env.Webhooks
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, &app.Config{Runtime: env.Runtime(app.Name), Metal: memory.New(memory.Config{}),
			WebhookPort: w.Port, WebhookCertDir: w.CertDir, Workers: 1, Poll: time.Second, Retry: time.Second})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("provider: %v", err)
		}
	})
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "hooks"}}))

	// The webhooks fail closed: creating works once the server answers.
	mc := &infrav1.MetalCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "hooks", Name: "given"},
		Spec: infrav1.MetalClusterSpec{ControlPlaneEndpoint: clusterv1.APIEndpoint{Host: "api.example.org"}}}
	testkit.Eventually(t, "the webhook server answering", func() error { return client.IgnoreAlreadyExists(c.Create(ctx, mc.DeepCopy())) })
	must(t, c.Get(ctx, client.ObjectKeyFromObject(mc), mc))
	if mc.Spec.ControlPlaneEndpoint.Port != infrav1.DefaultAPIServerPort {
		t.Errorf("port %d, want the default %d from the mutating webhook", mc.Spec.ControlPlaneEndpoint.Port, infrav1.DefaultAPIServerPort)
	}

	tests := []struct {
		name    string
		do      func() error
		wantErr []string
	}{
		{name: "cluster without endpoint or network", do: func() error {
			return c.Create(ctx, &infrav1.MetalCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "hooks", Name: "nothing"}})
		}, wantErr: []string{`admission webhook "validate.metalcluster.infrastructure.cluster.x-k8s.io" denied the request`, "spec.controlPlaneNetwork: Required value"}},
		{name: "endpoint moved", do: func() error {
			moved := mc.DeepCopy()
			moved.Spec.ControlPlaneEndpoint.Host = "other.example.org"
			return c.Update(ctx, moved)
		}, wantErr: []string{`spec.controlPlaneEndpoint: Invalid value: "other.example.org:6443": is immutable once set (was api.example.org:6443)`}},
		{name: "machine with matchExpressions", do: func() error {
			return c.Create(ctx, &infrav1.MetalMachine{ObjectMeta: metav1.ObjectMeta{Namespace: "hooks", Name: "expr"}, Spec: infrav1.MetalMachineSpec{
				Image: "ubuntu-24.04", ServerSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "size", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}}}}})
		}, wantErr: []string{"spec.serverSelector.matchExpressions: Forbidden: not supported (1 given)"}},
		{name: "template changed", do: func() error {
			tmpl := &infrav1.MetalMachineTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: "hooks", Name: "tmpl"},
				Spec: infrav1.MetalMachineTemplateSpec{Template: infrav1.MetalMachineTemplateResource{Spec: infrav1.MetalMachineSpec{Image: "ubuntu-24.04"}}}}
			if err := c.Create(ctx, tmpl); err != nil {
				return err
			}
			tmpl.Spec.Template.Spec.Image = "flatcar"
			return c.Update(ctx, tmpl)
		}, wantErr: []string{"spec: Forbidden: templates are immutable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if err == nil {
				t.Fatalf("accepted, want %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
