package webhook

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	chartrender "github.com/metalkube/metalkube/charts/render"
	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/shared/testenv"
)

const (
	// namespace is the release namespace, where the admission keeps its
	// generated certificates.
	namespace = "metalkube-system"
	release   = "metalkube"
	// Image is the metalkube image the chart names; the pod runner plays it
	// with the binary under test.
	Image = "metalkube:e2e"
	// secretLabel selects the cloudprovider Secrets of metalkube Shoots
	// (Gardener sets it): the secret validator's objectSelector.
	secretLabel = "provider.shoot.gardener.cloud/metalkube"
)

// TestMain runs the test control plane with the real gardener-apiserver
// as its aggregated API server: Shoots and CloudProfiles are admitted by
// Gardener's own admission plugins and then by the webhooks registered for
// them, which gardener-apiserver calls.
func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{GardenerAPIServer: true}, &env))
}

var env *testenv.Env

// TestAdmissionWithGeneratedCertificates installs the chart's garden preset
// with admission.webhook.generated and runs its Deployment as its
// ServiceAccount: `metalkube admission` with no certificate must generate
// one and register its webhook configurations (the Shoot and CloudProfile
// validator, the Shoot mutator, the Secret validator) with a CA bundle
// the API servers trust, each with a selector so that it sees only
// metalkube's objects. Then, through the kube-apiserver: an invalid
// cloudprovider Secret is refused (naming the field), a valid one and an
// unrelated invalid one are admitted; and through gardener-apiserver,
// which calls the webhooks over TLS with the generated CA, a CloudProfile
// and a Shoot of type metalkube are admitted, the Shoot defaulted by the
// mutator, and a Shoot and a CloudProfile with a bad provider document
// are refused with the field and value named.
func TestAdmissionWithGeneratedCertificates(t *testing.T) {
	ctx := context.Background()
	bin, err := framework.BuildMetalkube()
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// The chart's garden preset as an operator installs it with certificates
	// the component makes itself: rendered, installed into the API server,
	// and its Deployment run through the pod runner as its ServiceAccount,
	// so the chart's RBAC is all it may do. Outside a cluster the API server
	// reaches the webhook by URL.
	repo, tag, _ := strings.Cut(Image, ":")
	values, err := yaml.Marshal(map[string]any{
		"global": map[string]any{"image": map[string]any{"repository": repo, "tag": tag}, "logging": map[string]any{"format": "console"}},
		"admission": map[string]any{
			"replicas": 1,
			"webhook":  map[string]any{"generated": true, "caBundle": "", "url": fmt.Sprintf("https://127.0.0.1:%d", port)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	preset, err := os.ReadFile(chartrender.PresetFile("garden"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := chartrender.Render(chartrender.Input{Values: [][]byte{preset, values}, Release: release, Namespace: namespace})
	if err != nil {
		t.Fatalf("render the garden preset: %v", err)
	}
	var dep *appsv1.Deployment
	for _, o := range out.Objects {
		switch o.GetKind() {
		case "ClusterRole", "ClusterRoleBinding":
		default:
			o.SetNamespace(namespace)
		}
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("install %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		if o.GetKind() == "Deployment" {
			dep = &appsv1.Deployment{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, dep); err != nil {
				t.Fatal(err)
			}
		}
	}
	if dep == nil {
		t.Fatal("the garden preset rendered no Deployment")
	}
	spec := dep.Spec.Template.Spec
	logDir := t.TempDir()
	kubeconfig := filepath.Join(logDir, "serviceaccount.kubeconfig")
	if _, err := framework.ServiceAccountKubeconfig(ctx, env.Config, namespace, spec.ServiceAccountName, kubeconfig); err != nil {
		t.Fatal(err)
	}
	var webhookPort int32
	for _, p := range spec.Containers[0].Ports {
		if p.Name == "webhook" {
			webhookPort = p.ContainerPort
		}
	}
	pod, err := framework.StartPod(ctx, framework.StartPodInput{
		Name: release, Namespace: namespace, Spec: spec, Client: env.Client, Root: filepath.Join(logDir, "pods"), LogDir: logDir,
		Binaries: map[string]string{Image: bin}, ServiceAccountKubeconfig: kubeconfig,
		HostPorts: map[int32]int{webhookPort: port},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := pod.Processes()[0]
	t.Cleanup(pod.Stop)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\n--- admission log:\n%s", fmt.Sprintf(format, args...), p.Tail(4000))
	}

	// The registration: every webhook of the preset, each with a CA
	// bundle, a selector and failurePolicy Fail.
	var registered []registration
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = framework.Eventually(wctx, "the admission's webhook configurations with a CA bundle", 3*time.Minute, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		if done, err := p.Exited(); done {
			cancel() // no use waiting
			return false, fmt.Errorf("admission exited: %v", err)
		}
		var err error
		if registered, err = webhooks(ctx); err != nil {
			return false, err
		}
		seen := map[string]bool{}
		for _, w := range registered {
			if len(w.CABundle) > 0 {
				seen[w.Path] = true
			}
		}
		return seen[pathValidate] && seen[pathValidateSecrets] && seen[pathMutate], nil
	})
	if err != nil {
		fail("%v", err)
	}
	for _, w := range registered {
		if len(w.CABundle) == 0 {
			t.Errorf("webhook %s: empty caBundle", w.Name)
		}
		if !w.Selector {
			t.Errorf("webhook %s: neither objectSelector nor namespaceSelector", w.Name)
		}
		if w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Fail {
			t.Errorf("webhook %s: failurePolicy %v, want Fail", w.Name, w.FailurePolicy)
		}
	}
	secrets := &corev1.SecretList{}
	if err := env.Client.List(ctx, secrets, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) == 0 {
		t.Errorf("no certificate Secrets in %s: the CA and serving certificate are not managed there", namespace)
	}

	// The API server calls the webhook over TLS with the registered CA: the
	// first call may come before the server serves, so retry until it
	// answers (an answer is a refusal naming the field).
	var refused error
	err = framework.Eventually(ctx, "the API server refusing an invalid cloudprovider Secret through the webhook", 2*time.Minute, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		refused = env.Client.Create(ctx, secret("invalid", true, map[string]string{"metalAPIURL": "https://api.metal-stack.example"}))
		if refused == nil {
			return false, fmt.Errorf("an invalid cloudprovider Secret was admitted")
		}
		return strings.Contains(refused.Error(), "denied the request"), nil
	})
	if err != nil {
		fail("%v (last: %v)", err, refused)
	}
	for _, want := range []string{"data[metalAPIHMac]", "metalAPIKey"} {
		if !strings.Contains(refused.Error(), want) {
			t.Errorf("refusal %q does not name %q", refused, want)
		}
	}
	if err := env.Client.Create(ctx, secret("valid", true, map[string]string{"metalAPIURL": "https://api.metal-stack.example", "metalAPIHMac": "x"})); err != nil {
		t.Errorf("a valid cloudprovider Secret was refused: %v", err)
	}
	if err := env.Client.Create(ctx, secret("unrelated", false, map[string]string{"metalAPIURL": "https://api.metal-stack.example"})); err != nil {
		t.Errorf("a Secret without the metalkube label went through the webhook: %v", err)
	}
	if err := admitGardenObjects(ctx, t); err != nil {
		fail("%v", err)
	}
	// All of it with the chart's RBAC: no request refused.
	if log := p.Tail(1 << 20); strings.Contains(log, "forbidden") {
		t.Errorf("the chart's RBAC refused a request of the admission:\n%s", log)
	}
}

// secret is a Secret in the default namespace, labelled as a metalkube
// Shoot's cloudprovider Secret or not.
func secret(name string, labelled bool, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, StringData: data}
	if labelled {
		s.Labels = map[string]string{secretLabel: "true"}
	}
	return s
}
