package component

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

func TestStripNode(t *testing.T) {
	managed := []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate}}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"zone": "a"}, ManagedFields: managed},
		Spec:       corev1.NodeSpec{PodCIDR: "10.0.0.0/24", ProviderID: "metal://p/1"},
		Status: corev1.NodeStatus{
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.1.0.1"}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Images:     []corev1.ContainerImage{{Names: []string{"registry.example/app@sha256:0123", "registry.example/app:v1"}, SizeBytes: 1 << 20}},
		},
	}
	want := node.DeepCopy()
	want.ManagedFields, want.Status.Images = nil, nil
	got, err := StripNode(node)
	if err != nil {
		t.Fatal(err)
	}
	n, ok := got.(*corev1.Node)
	if !ok {
		t.Fatalf("StripNode returned %T", got)
	}
	if n.Status.Images != nil || n.ManagedFields != nil {
		t.Errorf("images %v, managedFields %v: want both dropped", n.Status.Images, n.ManagedFields)
	}
	if n.Labels["zone"] != "a" || n.Spec.PodCIDR != want.Spec.PodCIDR || n.Spec.ProviderID != want.Spec.ProviderID ||
		len(n.Status.Addresses) != 1 || len(n.Status.Conditions) != 1 {
		t.Errorf("StripNode dropped what components read: got %+v, want %+v", n, want)
	}

	// Any other object loses only its managedFields.
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", ManagedFields: managed}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
	got, err = StripNode(svc)
	if err != nil {
		t.Fatal(err)
	}
	if s := got.(*corev1.Service); s.ManagedFields != nil || s.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Errorf("service after StripNode = %+v, want only managedFields dropped", s)
	}
}

// TestCacheOptions checks that the default transform trims Nodes and that a
// manager with these options can be created while its API server is
// unreachable (a per-kind ByObject entry would ask the server for the
// kind's REST mapping there and fail the component's start).
func TestCacheOptions(t *testing.T) {
	o := CacheOptions()
	if o.DefaultTransform == nil {
		t.Fatal("no default transform: managedFields would be cached")
	}
	got, err := o.DefaultTransform(&corev1.Node{Status: corev1.NodeStatus{Images: []corev1.ContainerImage{{Names: []string{"a"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := got.(*corev1.Node); n.Status.Images != nil {
		t.Errorf("default transform kept the Node's images %v", n.Status.Images)
	}
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	unreachable := &rest.Config{Host: "https://127.0.0.1:1"}
	if _, err := manager.New(unreachable, manager.Options{Scheme: s, Cache: o,
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"}); err != nil {
		t.Errorf("manager with CacheOptions and an unreachable API server: %v", err)
	}
}
