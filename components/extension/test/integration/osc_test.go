package integration

import (
	"context"
	"testing"
	"time"

	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestOperatingSystemConfig: the extension runs components/os's
// OperatingSystemConfig controller; a flatcar OSC gets its user data Secret.
func TestOperatingSystemConfig(t *testing.T) {
	start(t)
	ctx := context.Background()
	ns := newShoot(t, "osc", workerPool("pool-a", "fra-1"))
	osc := &extensionsv1alpha1.OperatingSystemConfig{
		ObjectMeta: metav1.ObjectMeta{Name: "osc-pool-a", Namespace: ns, Annotations: opAnnotation("reconcile")},
		Spec: extensionsv1alpha1.OperatingSystemConfigSpec{
			DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: "flatcar"},
			Purpose:     extensionsv1alpha1.OperatingSystemConfigPurposeProvision,
			Units: []extensionsv1alpha1.Unit{{Name: "hello.service", Enable: ptr.To(true),
				Content: ptr.To("[Unit]\nDescription=hello\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n")}},
			Files: []extensionsv1alpha1.File{{Path: "/etc/hello", Permissions: ptr.To[uint32](0o644),
				Content: extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Data: "hi\n"}}}},
		},
	}
	if err := env.Client.Create(ctx, osc); err != nil {
		t.Fatal(err)
	}
	waitSucceeded(t, osc, gardencorev1beta1.LastOperationTypeReconcile, 30*time.Second)
	if osc.Status.CloudConfig == nil {
		t.Fatal("status.cloudConfig is empty")
	}
	s := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: osc.Status.CloudConfig.SecretRef.Namespace, Name: osc.Status.CloudConfig.SecretRef.Name}, s); err != nil {
		t.Fatalf("user data secret: %v", err)
	}
	if len(s.Data) == 0 {
		t.Error("user data secret is empty")
	}
}
