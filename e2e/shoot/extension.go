package shoot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	secretsutils "github.com/gardener/gardener/pkg/utils/secrets"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	chartrender "github.com/metalkube/metalkube/charts/render"
	"github.com/metalkube/metalkube/e2e/framework"
)

// Release is the Helm release the flow installs the umbrella chart's seed
// preset as; its extension Deployment is ExtensionDeployment.
const (
	Release             = "metalkube"
	ExtensionDeployment = "metalkube-extension"
	// ExtensionContainer is the extension's container in that Deployment.
	ExtensionContainer = "extension"
	// extensionWebhookTLS is the chart's default extension.webhook.tlsSecret.
	extensionWebhookTLS = "metalkube-extension-webhook-tls"
)

// ExtensionNamespace is the seed namespace the flow installs the extension
// into, one per backend: the flows of one control plane come one after the
// other, and each starts its own.
func (f *Flow) ExtensionNamespace() string { return "extension-metalkube-" + f.Backend }

// seedValues are the values an operator sets to install the seed preset
// here: the image, one replica, no gardenlet to set the operation
// annotation, and the control-plane webhook at a URL (this API server
// reaches no Service) with the CA of its serving certificate.
func (f *Flow) seedValues(webhookURL string, ca []byte) ([]byte, error) {
	repo, tag, _ := strings.Cut(Image, ":")
	return yaml.Marshal(map[string]any{
		"global": map[string]any{
			"image":   map[string]any{"repository": repo, "tag": tag},
			"logging": map[string]any{"format": f.LogFormat},
		},
		"extension": map[string]any{
			"replicas":                  1,
			"ignoreOperationAnnotation": true,
			"webhook":                   map[string]any{"url": webhookURL, "caBundle": string(ca)},
		},
	})
}

// installExtension installs the umbrella chart with the seed preset the way
// `helm install` would (every rendered object into the API server) and runs
// the extension's Deployment through the pod runner with its ServiceAccount's
// token, so the chart's RBAC is all it may do, and its webhook served over
// TLS with a certificate from the Secret the chart mounts.
func (f *Flow) installExtension(ctx context.Context) error {
	ns := f.ExtensionNamespace()
	if err := f.Env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
		return err
	}
	ca, crt, key, err := webhookCertificate()
	if err != nil {
		return err
	}
	f.secrets = append(f.secrets, framework.Secret{Name: "the extension's webhook serving key", Value: key})
	tls := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: extensionWebhookTLS, Namespace: ns}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}}
	if err := f.apply(ctx, tls); err != nil {
		return err
	}
	port, err := framework.FreePort()
	if err != nil {
		return err
	}
	values, err := f.seedValues("https://"+net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), ca)
	if err != nil {
		return err
	}
	preset, err := os.ReadFile(chartrender.PresetFile("seed"))
	if err != nil {
		return err
	}
	out, err := chartrender.Render(chartrender.Input{Values: [][]byte{preset, values}, Release: Release, Namespace: ns})
	if err != nil {
		return fmt.Errorf("render the chart's seed preset: %w", err)
	}
	var dep *appsv1.Deployment
	for _, o := range out.Objects {
		if o.GetNamespace() == "" && namespaced(o) {
			o.SetNamespace(ns) // as helm install -n does
		}
		if err := f.apply(ctx, o); err != nil {
			return fmt.Errorf("install %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if o.GetKind() == "Deployment" && o.GetName() == ExtensionDeployment {
			dep = &appsv1.Deployment{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, dep); err != nil {
				return err
			}
		}
	}
	if dep == nil {
		return fmt.Errorf("the seed preset rendered no Deployment %s", ExtensionDeployment)
	}
	f.detail("chart metalkube, preset seed: %d objects installed in %s; webhook at https://127.0.0.1:%d", len(out.Objects), ns, port)
	// The pod is named after the release: its process is metalkube-extension.
	return f.startPod(ctx, podInput{name: Release, namespace: ns, spec: dep.Spec.Template.Spec,
		hostPorts: map[int32]int{webhookPort(dep.Spec.Template.Spec): port}})
}

// webhookPort is the extension container's declared webhook port.
func webhookPort(spec corev1.PodSpec) int32 {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name == "webhook" {
				return p.ContainerPort
			}
		}
	}
	return 0
}

// namespaced reports whether a kind the chart renders lives in a namespace.
func namespaced(o *unstructured.Unstructured) bool {
	switch o.GetKind() {
	case "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "CustomResourceDefinition", "Namespace":
		return false
	}
	return true
}

// webhookCertificate returns a CA and a serving certificate and key for
// 127.0.0.1 signed by it, as an operator's PKI would issue for the URL.
func webhookCertificate() (ca, crt, key []byte, err error) {
	caCert, err := (&secretsutils.CertificateSecretConfig{Name: "ca", CommonName: "metalkube-e2e-webhook-ca", CertType: secretsutils.CACert}).GenerateCertificate()
	if err != nil {
		return nil, nil, nil, err
	}
	srv, err := (&secretsutils.CertificateSecretConfig{Name: "webhook", CommonName: ExtensionDeployment, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		CertType: secretsutils.ServerCert, SigningCA: caCert}).GenerateCertificate()
	if err != nil {
		return nil, nil, nil, err
	}
	return caCert.CertificatePEM, srv.CertificatePEM, srv.PrivateKeyPEM, nil
}

// apply creates obj, or replaces what an earlier flow of the same control
// plane left, and remembers it for uninstallExtension.
func (f *Flow) apply(ctx context.Context, obj client.Object) error {
	c := f.Env.Client
	err := c.Create(ctx, obj)
	if apierrors.IsAlreadyExists(err) {
		cur := &unstructured.Unstructured{}
		gvk, gerr := c.GroupVersionKindFor(obj)
		if gerr != nil {
			return gerr
		}
		cur.SetGroupVersionKind(gvk)
		if err = c.Get(ctx, client.ObjectKeyFromObject(obj), cur); err == nil {
			obj.SetResourceVersion(cur.GetResourceVersion())
			err = c.Update(ctx, obj)
		}
	}
	if err != nil {
		return err
	}
	f.installed = append(f.installed, obj)
	return nil
}

// uninstallExtension deletes what installExtension created, newest first, as
// `helm uninstall` does: the next flow's extension must not find this one's
// webhook configuration pointing at a stopped server.
func (f *Flow) uninstallExtension() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	for i := len(f.installed) - 1; i >= 0; i-- {
		if err := f.Env.Client.Delete(ctx, f.installed[i]); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("uninstall %s: %w", f.installed[i].GetName(), err))
		}
	}
	f.installed = nil
	return errors.Join(errs...)
}
