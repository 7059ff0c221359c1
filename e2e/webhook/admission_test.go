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

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{}, &env))
}

var env *testenv.Env

// TestAdmissionWithGeneratedCertificates installs the chart's garden preset
// with admission.webhook.generated and runs its Deployment as its
// ServiceAccount: `metalkube admission` with no certificate (the Secret validator only: Shoots are served by
// gardener-apiserver, which does not run here): it must generate one, register its webhook configurations
// with a CA bundle the real kube-apiserver trusts, each with a selector so
// that it sees only metalkube's objects, and the API server must then refuse
// an invalid cloudprovider Secret (naming the field) and admit a valid one
// and an unrelated invalid one.
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
			// Shoots and CloudProfiles are served by gardener-apiserver, which
			// does not run here: only the Secret validator can be registered.
			"disableWebhooks": []any{"validator", "mutator"},
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

	// The registration: a CA bundle, a selector and failurePolicy Fail on
	// every webhook.
	var cfg admissionregistrationv1.ValidatingWebhookConfiguration
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = framework.Eventually(wctx, "the admission's ValidatingWebhookConfiguration with a CA bundle", 3*time.Minute, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		if done, err := p.Exited(); done {
			cancel() // no use waiting
			return false, fmt.Errorf("admission exited: %v", err)
		}
		list := &admissionregistrationv1.ValidatingWebhookConfigurationList{}
		if err := env.Client.List(ctx, list); err != nil {
			return false, err
		}
		for _, c := range list.Items {
			for _, w := range c.Webhooks {
				if strings.Contains(w.Name, "secrets") && len(w.ClientConfig.CABundle) > 0 {
					cfg = c
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		fail("%v", err)
	}
	for _, w := range cfg.Webhooks {
		if len(w.ClientConfig.CABundle) == 0 {
			t.Errorf("webhook %s: empty caBundle", w.Name)
		}
		if w.ObjectSelector == nil && w.NamespaceSelector == nil {
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

	secret := func(name string, labelled bool, data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, StringData: data}
		if labelled {
			s.Labels = map[string]string{secretLabel: "true"}
		}
		return s
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
	// All of it with the chart's RBAC: no request refused.
	if log := p.Tail(1 << 20); strings.Contains(log, "forbidden") {
		t.Errorf("the chart's RBAC refused a request of the admission:\n%s", log)
	}
}
