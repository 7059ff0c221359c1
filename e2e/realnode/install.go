package realnode

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/e2e/framework/realnode"
	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit/pki"
)

// Release is every role's release name: the chart then names its objects
// metalkube-<component>.
const Release = "metalkube"

// Role is one cluster role of the chart: a preset (none: Values alone say
// what runs) and the values that preset needs.
type Role struct {
	Name   string
	Preset string
	Values map[string]any
	// Webhook names the component whose webhook the release serves;
	// InstallRole issues its serving certificate into the chart's
	// tlsSecret and puts the CA into the chart's values.
	Webhook string
	// Check, if set, runs after the install until it succeeds: the
	// webhook answering through its Service.
	Check func(ctx context.Context, cs kubernetes.Interface, in Installed) error
	// Works, if set, runs once after Check: the component doing its job
	// from its pods (objects it reconciles on the node).
	Works func(ctx context.Context, n *realnode.Node, in Installed) error
}

// Roles are the cluster roles the chart serves that run on one node: the
// seed (the extension), a cluster's own control plane (ccm, mcm and lb for
// its own class of Services, next to the ccm's service controller), the
// garden (the admission webhooks) and a Cluster API management cluster (the
// capi provider).
var Roles = []Role{
	{Name: "seed", Preset: "seed", Webhook: "extension", Check: func(ctx context.Context, cs kubernetes.Interface, in Installed) error {
		return CallWebhook(ctx, cs, in.Namespace, in.CA)
	}},
	{Name: "shoot-control-plane", Preset: "shoot-control-plane", Values: map[string]any{
		"ccm": map[string]any{"cluster": realnode.NodeName},
		"lb":  map[string]any{"enabled": true, "cluster": realnode.NodeName, "loadBalancerClass": "metalkube.io/lb"},
	}},
	{Name: "garden", Preset: "garden", Webhook: "admission", Check: checkSecretValidation},
	// A Cluster API management cluster: the infrastructure provider on the
	// in-cluster ironcore backend (metal-operator's CRDs, installed by
	// Prepare), next to Cluster API's core CRDs.
	{Name: "capi-management", Preset: "capi-management", Webhook: "capi", Check: checkMetalClusterWebhooks, Works: reconcileMetalCluster},
}

// checkSecretValidation creates cloudprovider Secrets of type metalkube
// through the API server, which calls the admission webhook over TLS (the
// chart's caBundle) through its Service: one without credentials must be
// refused with the webhook's reason, a complete one admitted.
func checkSecretValidation(ctx context.Context, cs kubernetes.Interface, in Installed) error {
	labels := map[string]string{"provider.shoot.gardener.cloud/metalkube": "true"}
	bad := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "no-credentials", Namespace: in.Namespace, Labels: labels}}
	_, err := cs.CoreV1().Secrets(in.Namespace).Create(ctx, bad, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil || !strings.Contains(err.Error(), "metalAPIURL") {
		return fmt.Errorf("a metalkube Secret without credentials: %v, want the admission webhook's refusal naming metalAPIURL", err)
	}
	good := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "metal-api", Namespace: in.Namespace, Labels: labels},
		Data:       map[string][]byte{"metalAPIURL": []byte("http://metal-api.example"), "metalAPIHMac": []byte("not-a-real-hmac")},
	}
	if _, err := cs.CoreV1().Secrets(in.Namespace).Create(ctx, good, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		return fmt.Errorf("a complete metalkube Secret: %w", err)
	}
	return nil
}

// Prepare installs what the chart's components expect in a cluster (the
// CRDs they watch, Cluster API's included, MetalLB's namespace) into the
// node.
func Prepare(ctx context.Context, n *realnode.Node) error {
	if err := installCRDs(n); err != nil {
		return fmt.Errorf("install CRDs: %w", err)
	}
	cs, err := n.Client()
	if err != nil {
		return err
	}
	// MetalLB's namespace, where ccm and lb write its objects (MetalLB
	// itself does not run here; its CRDs are installed).
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "metallb-system"}}, metav1.CreateOptions{})
	return err
}

// Installed is a role's release.
type Installed struct {
	// Namespace of the release: metalkube-<role>.
	Namespace string
	// CA signed the webhook's serving certificate, whose Key is a secret
	// no log may show (Webhook roles only).
	CA, Key []byte
	// Took is how long `helm install --wait` took.
	Took time.Duration
	// Config reaches the node's API server, for clients of kinds the
	// clientset does not know.
	Config *rest.Config
}

// InstallRole runs `helm install --wait` of the umbrella chart with a
// role's preset into its own namespace of the node, with the metalkube
// image ref (imported, never pulled). Helm keeps its files in dir.
func InstallRole(ctx context.Context, n *realnode.Node, root, dir, ref string, r Role) (Installed, error) {
	cs, err := n.Client()
	if err != nil {
		return Installed{}, err
	}
	in := Installed{Namespace: "metalkube-" + r.Name, Config: n.Config}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: in.Namespace}}, metav1.CreateOptions{}); err != nil {
		return in, err
	}
	repo, tag, _ := strings.Cut(ref, ":")
	values := map[string]any{"global": map[string]any{"image": map[string]any{"repository": repo, "tag": tag, "pullPolicy": "Never"}}}
	for k, v := range r.Values {
		values[k] = v
	}
	if r.Webhook != "" {
		if in.CA, in.Key, err = webhookCert(ctx, cs, in.Namespace, r.Webhook); err != nil {
			return in, err
		}
		values[r.Webhook] = map[string]any{"webhook": map[string]any{"caBundle": string(in.CA)}}
	}
	began := time.Now()
	if out, err := helmInstall(ctx, root, dir, n.Kubeconfig, in.Namespace, r.Preset, values); err != nil {
		return in, fmt.Errorf("helm install %s: %w\n%s\n%s", r.Name, err, out, PodReport(ctx, cs, in.Namespace))
	}
	in.Took = time.Since(began)
	// Helm's --wait counts a DaemonSet as ready with maxUnavailable of its
	// pods not Ready (with one node and the chart's maxUnavailable 1: at
	// once), so the pods themselves are awaited.
	if err := framework.Eventually(ctx, r.Name+": every pod Ready", 2*time.Minute, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		return podsReady(ctx, cs, in.Namespace)
	}); err != nil {
		return in, fmt.Errorf("%w\n%s", err, PodReport(ctx, cs, in.Namespace))
	}
	if r.Check != nil {
		// Until kube-proxy has the Service's endpoints in its rules.
		if err := framework.Eventually(ctx, r.Name+": the webhook answering through its Service", 2*time.Minute, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
			err := r.Check(ctx, cs, in)
			return err == nil, err
		}); err != nil {
			return in, err
		}
	}
	if r.Works != nil {
		if err := r.Works(ctx, n, in); err != nil {
			return in, fmt.Errorf("%s: %w\n%s", r.Name, err, PodReport(ctx, cs, in.Namespace))
		}
	}
	return in, nil
}

// installCRDs installs what the components watch: Gardener's extension and
// resource CRDs, machine-controller-manager's, metal-operator's, Cluster
// API's core and IPAM CRDs and MetalLB's, from the Go module cache like the rest of the
// suite.
func installCRDs(n *realnode.Node) error {
	ctrllog.SetLogger(logr.Discard()) // envtest.InstallCRDs logs through it
	paths, err := testenv.CRDPaths(testenv.GardenerExtensions, testenv.GardenerResources, testenv.MachineControllerManager,
		testenv.MetalOperator, testenv.ClusterAPIIPAM, testenv.ClusterAPI)
	if err != nil {
		return err
	}
	metallb, err := testenv.ModuleDir("go.universe.tf/metallb", "")
	if err != nil {
		return err
	}
	paths = append(paths, filepath.Join(metallb, "config", "crd", "bases"))
	_, err = envtest.InstallCRDs(n.Config, envtest.CRDInstallOptions{Paths: paths, ErrorIfPathMissing: true})
	return err
}

// helmInstall runs `helm install --wait` of the umbrella chart with a
// role's preset and values, through Helm's Go packages (bin/helminstall,
// e2e/cmd/helminstall); Helm keeps its files in dir.
func helmInstall(ctx context.Context, root, dir, kubeconfig, ns, preset string, values map[string]any) ([]byte, error) {
	b, err := yaml.Marshal(values)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	valuesFile := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(valuesFile, b, 0o600); err != nil {
		return nil, err
	}
	chart := filepath.Join(root, "charts", "metalkube")
	args := []string{"-release", Release, "-kubeconfig", kubeconfig, "-namespace", ns}
	if preset != "" {
		args = append(args, "-f", filepath.Join(chart, "presets", preset+".yaml"))
	}
	args = append(args, "-f", valuesFile, "-timeout", "5m", "-home", dir, chart)
	cmd := exec.CommandContext(ctx, filepath.Join(root, "bin", "helminstall"), args...)
	return cmd.CombinedOutput()
}

// podsReady reports whether the namespace has pods and all are Ready; the
// error names one that is not.
func podsReady(ctx context.Context, cs kubernetes.Interface, ns string) (bool, error) {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, err
	}
	if len(pods.Items) == 0 {
		return false, fmt.Errorf("no pods in %s", ns)
	}
	for _, p := range pods.Items {
		if !slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
			return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
		}) {
			return false, fmt.Errorf("pod %s not Ready: %s", p.Name, p.Status.Phase)
		}
	}
	return true, nil
}

// PodReport is the pods' status and the end of their logs, for a failure.
func PodReport(ctx context.Context, cs kubernetes.Interface, ns string) string {
	var b strings.Builder
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	tail := int64(30)
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "pod %s: %s\n", p.Name, p.Status.Phase)
		for _, c := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, "  %s ready=%v restarts=%d state=%+v last=%+v\n", c.Name, c.Ready, c.RestartCount, c.State, c.LastTerminationState)
			logs, err := cs.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, TailLines: &tail}).DoRaw(ctx)
			if err != nil {
				logs = []byte(err.Error())
			}
			fmt.Fprintf(&b, "  --- log ---\n%s\n", logs)
		}
	}
	evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, e := range evs.Items {
			if e.Type != corev1.EventTypeNormal {
				fmt.Fprintf(&b, "event %s %s: %s\n", e.InvolvedObject.Name, e.Reason, e.Message)
			}
		}
	}
	return b.String()
}

// webhookService is a component's webhook Service (the chart's name for
// the release "metalkube"); its serving certificate is in <service>-tls.
func webhookService(component string) string { return "metalkube-" + component + "-webhook" }

// webhookCert issues the webhook's serving certificate for its Service from
// a fresh CA into the chart's tlsSecret and returns the CA.
func webhookCert(ctx context.Context, cs kubernetes.Interface, ns, component string) (ca, key []byte, err error) {
	svc := webhookService(component)
	authority, err := pki.NewCA("realnode-webhook-ca")
	if err != nil {
		return nil, nil, err
	}
	kp, err := authority.Issue(svc, nil, nil, []string{svc + "." + ns + ".svc", svc + "." + ns + ".svc.cluster.local"})
	if err != nil {
		return nil, nil, err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: svc + "-tls", Namespace: ns},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: kp.Cert, corev1.TLSPrivateKeyKey: kp.Key},
	}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return nil, nil, err
	}
	return authority.PEM, kp.Key, nil
}

// CallWebhook sends an AdmissionReview to the extension's control plane
// webhook through its Service's ClusterIP (kube-proxy's rules) and checks
// the TLS certificate against the CA and the answer's UID.
func CallWebhook(ctx context.Context, cs kubernetes.Interface, ns string, ca []byte) error {
	svc, err := cs.CoreV1().Services(ns).Get(ctx, webhookService("extension"), metav1.GetOptions{})
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, ServerName: svc.Name + "." + ns + ".svc", MinVersion: tls.VersionTLS12,
	}}}
	obj, err := json.Marshal(map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "not-a-control-plane", "namespace": "default"},
	})
	if err != nil {
		return err
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("realnode-1"),
			Kind:      metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"},
			Resource:  metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"},
			Name:      "not-a-control-plane",
			Namespace: "default",
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: obj},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		return err
	}
	url := fmt.Sprintf("https://%s:443/controlplane", svc.Spec.ClusterIP)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var answer admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &answer); err != nil || answer.Response == nil {
		return fmt.Errorf("webhook %s: %s: %s (%v)", url, resp.Status, b, err)
	}
	if answer.Response.UID != review.Request.UID {
		return fmt.Errorf("webhook %s answered UID %q, want %q", url, answer.Response.UID, review.Request.UID)
	}
	return nil
}
