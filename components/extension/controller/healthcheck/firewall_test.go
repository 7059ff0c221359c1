package healthcheck

import (
	"context"
	"strings"
	"testing"
	"time"

	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
	"github.com/metalkube/metalkube/components/extension/controller/infrastructure"
	"github.com/metalkube/metalkube/components/extension/scheme"
)

func TestFirewallChecker(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	status := func(reported time.Time, errMsg string) map[string]any {
		return map[string]any{"lastApplied": now.Add(-time.Hour).Format(time.RFC3339), "lastReported": reported.Format(time.RFC3339), "error": errMsg}
	}
	for _, tc := range []struct {
		name     string
		firewall bool
		agent    map[string]any
		want     gardencorev1beta1.ConditionStatus
		detail   string
	}{
		{"no firewall configured", false, nil, gardencorev1beta1.ConditionTrue, ""},
		{"agent never reported", true, nil, gardencorev1beta1.ConditionFalse, "not reported"},
		{"agent reports", true, status(now.Add(-20*time.Second), ""), gardencorev1beta1.ConditionTrue, ""},
		{"agent stopped reporting", true, status(now.Add(-10*time.Minute), ""), gardencorev1beta1.ConditionFalse, "stopped reporting: last report 10m0s ago"},
		{"agent fails to apply", true, status(now, "table full"), gardencorev1beta1.ConditionFalse, "table full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &v1alpha1.InfrastructureStatus{}
			if tc.firewall {
				st.Firewall = &v1alpha1.FirewallStatus{Name: "firewall-abc"}
			}
			raw, err := codec.Encode(st, v1alpha1.KindInfrastructureStatus)
			if err != nil {
				t.Fatal(err)
			}
			infra := &extensionsv1alpha1.Infrastructure{ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: "shoot--a--b"},
				Status: extensionsv1alpha1.InfrastructureStatus{DefaultStatus: extensionsv1alpha1.DefaultStatus{ProviderStatus: raw}}}
			var shootObjs []client.Object
			if tc.agent != nil {
				u := &unstructured.Unstructured{Object: map[string]any{"status": tc.agent}}
				u.SetAPIVersion(infrastructure.FirewallGVK.Group + "/" + infrastructure.FirewallGVK.Version)
				u.SetKind(infrastructure.FirewallGVK.Kind)
				u.SetNamespace(infrastructure.FirewallPolicyNamespace)
				u.SetName("firewall-abc")
				shootObjs = append(shootObjs, u)
			}
			c := &FirewallChecker{Now: func() time.Time { return now }}
			c.SetLoggerSuffix("metalkube", "infrastructure")
			c.InjectSourceClient(fake.NewClientBuilder().WithScheme(scheme.Seed()).WithObjects(infra).Build())
			c.InjectTargetClient(fake.NewClientBuilder().WithScheme(runtime.NewScheme()).WithObjects(shootObjs...).Build())
			res, err := c.Check(context.Background(), types.NamespacedName{Namespace: infra.Namespace, Name: infra.Name})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.want || !strings.Contains(res.Detail, tc.detail) {
				t.Errorf("check = %s %q, want %s %q", res.Status, res.Detail, tc.want, tc.detail)
			}
		})
	}
}
