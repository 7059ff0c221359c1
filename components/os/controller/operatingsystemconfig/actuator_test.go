package operatingsystemconfig_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/metalkube/metalkube/components/os/controller/operatingsystemconfig"
	"github.com/metalkube/metalkube/components/os/internal/testosc"
)

func TestActuator(t *testing.T) {
	ctx, log := context.Background(), logr.Discard()
	userData := func(name string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testosc.Namespace}, Data: map[string][]byte{"cloud_config": []byte("x")}}
	}
	newActuator := func(funcs interceptor.Funcs, objs ...client.Object) (*operatingsystemconfig.Actuator, client.Client) {
		s := runtime.NewScheme()
		_ = corev1.AddToScheme(s)
		c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithInterceptorFuncs(funcs).Build()
		return &operatingsystemconfig.Actuator{Translator: newTranslator(), Secrets: c}, c
	}
	exists := func(c client.Client, name string) bool {
		err := c.Get(ctx, client.ObjectKey{Namespace: testosc.Namespace, Name: name}, &corev1.Secret{})
		return !apierrors.IsNotFound(err)
	}

	t.Run("reconcile provision returns user data only", func(t *testing.T) {
		a, _ := newActuator(interceptor.Funcs{})
		ud, units, files, inPlace, err := a.Reconcile(ctx, log, testosc.Realistic("w", "flatcar"))
		if err != nil || len(ud) == 0 || units != nil || files != nil || inPlace != nil {
			t.Fatalf("Reconcile = %d bytes, %v, %v, %v, %v", len(ud), units, files, inPlace, err)
		}
	})
	t.Run("restore renders as reconcile", func(t *testing.T) {
		a, _ := newActuator(interceptor.Funcs{})
		osc := testosc.Realistic("w", "ubuntu")
		ud1, _, _, _, err1 := a.Reconcile(ctx, log, osc)
		ud2, _, _, _, err2 := a.Restore(ctx, log, osc)
		if err1 != nil || err2 != nil || string(ud1) != string(ud2) {
			t.Fatalf("Restore differs from Reconcile (%v, %v)", err1, err2)
		}
	})
	t.Run("delete removes the default user-data secret", func(t *testing.T) {
		a, c := newActuator(interceptor.Funcs{}, userData("osc-result-w"), userData("other"))
		if err := a.Delete(ctx, log, testosc.Realistic("w", "ubuntu")); err != nil {
			t.Fatal(err)
		}
		if exists(c, "osc-result-w") || !exists(c, "other") {
			t.Errorf("osc-result-w exists %v, other exists %v", exists(c, "osc-result-w"), exists(c, "other"))
		}
	})
	t.Run("delete removes the secret named in the status", func(t *testing.T) {
		a, c := newActuator(interceptor.Funcs{}, userData("custom"))
		osc := testosc.Realistic("w", "ubuntu")
		osc.Status.CloudConfig = &extensionsv1alpha1.CloudConfig{SecretRef: corev1.SecretReference{Name: "custom", Namespace: testosc.Namespace}}
		if err := a.ForceDelete(ctx, log, osc); err != nil {
			t.Fatal(err)
		}
		if exists(c, "custom") {
			t.Errorf("secret custom still exists")
		}
	})
	t.Run("delete without a secret succeeds", func(t *testing.T) {
		a, _ := newActuator(interceptor.Funcs{})
		if err := a.Delete(ctx, log, testosc.Realistic("w", "ubuntu")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("delete reports API errors", func(t *testing.T) {
		a, _ := newActuator(interceptor.Funcs{Delete: func(context.Context, client.WithWatch, client.Object, ...client.DeleteOption) error {
			return errors.New("etcd is on fire")
		}}, userData("osc-result-w"))
		err := a.Delete(ctx, log, testosc.Realistic("w", "ubuntu"))
		if err == nil || !strings.Contains(err.Error(), "osc-result-w") || !strings.Contains(err.Error(), "etcd is on fire") {
			t.Fatalf("Delete = %v", err)
		}
	})
	t.Run("migrate keeps the secret", func(t *testing.T) {
		a, c := newActuator(interceptor.Funcs{}, userData("osc-result-w"))
		if err := a.Migrate(ctx, log, testosc.Realistic("w", "ubuntu")); err != nil || !exists(c, "osc-result-w") {
			t.Fatalf("Migrate = %v, secret exists %v", err, exists(c, "osc-result-w"))
		}
	})
}
