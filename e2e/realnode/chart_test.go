package realnode

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/e2e/framework/image"
	"github.com/metalkube/metalkube/e2e/framework/realnode"
	"github.com/metalkube/metalkube/shared/testenv"
)

// release is every role's release name: the chart then names its objects
// metalkube-<component>.
const release = "metalkube"

// role is one cluster role of the chart: a preset and the values that
// preset needs.
type role struct {
	name   string
	preset string
	values map[string]any
	// webhook: the release serves the extension's webhook, whose serving
	// certificate the test issues into the chart's tlsSecret.
	webhook bool
}

func TestChartOnRealNode(t *testing.T) {
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin")
	if os.Geteuid() != 0 {
		t.Skip(realnode.Usable(bin))
	}
	if err := realnode.BuildBinaries(root); err != nil {
		t.Fatal(err)
	}
	if why := realnode.Usable(bin); why != "" {
		t.Skip(why)
	}
	imgs, err := realnode.BuildImages(root)
	if err != nil {
		t.Fatal(err)
	}
	ctrllog.SetLogger(logr.Discard()) // envtest.InstallCRDs logs through it
	ctx := t.Context()
	start := time.Now()
	n, err := realnode.Start(ctx, realnode.StartInput{
		Bin: bin, LogDir: filepath.Join(t.TempDir(), "node"),
		PauseImage: imgs.Pause, PauseRef: image.PauseRef, Images: []string{imgs.Metalkube},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range n.Timings {
		t.Logf("node %s: %s", tm.Phase, tm.Duration.Round(time.Millisecond))
	}
	t.Logf("node up in %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		if err := n.Stop(ctx); err != nil {
			t.Errorf("stop the node: %v", err)
		}
		if left := realnode.Leftovers(ctx, realnode.DefaultStateDir); len(left) > 0 {
			t.Errorf("left after teardown: %v", left)
		}
	})
	cs, err := n.Client()
	if err != nil {
		t.Fatal(err)
	}
	if err := installCRDs(n); err != nil {
		t.Fatal(err)
	}
	// MetalLB's namespace, where ccm and lb write its objects (MetalLB
	// itself does not run here; its CRDs are installed).
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "metallb-system"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	repo, tag, _ := strings.Cut(imgs.MetalkubeRef, ":")
	global := map[string]any{"image": map[string]any{"repository": repo, "tag": tag, "pullPolicy": "Never"}}
	roles := []role{
		{name: "seed", preset: "seed", webhook: true},
		{name: "shoot-control-plane", preset: "shoot-control-plane", values: map[string]any{
			"ccm": map[string]any{"cluster": "realnode"},
			// lb next to the ccm's own service controller, for its own
			// class of Services.
			"lb": map[string]any{"enabled": true, "cluster": "realnode", "loadBalancerClass": "metalkube.io/lb"},
		}},
	}
	for _, r := range roles {
		t.Run(r.name, func(t *testing.T) {
			ns := "metalkube-" + r.name
			if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			values := map[string]any{"global": global}
			for k, v := range r.values {
				values[k] = v
			}
			var ca []byte
			if r.webhook {
				if ca, err = webhookCert(ctx, cs, ns); err != nil {
					t.Fatal(err)
				}
				values["extension"] = map[string]any{"webhook": map[string]any{"caBundle": string(ca)}}
			}
			began := time.Now()
			if out, err := helmInstall(ctx, t, root, n.Kubeconfig, ns, r.preset, values); err != nil {
				t.Fatalf("helm install: %v\n%s\n%s", err, out, podReport(ctx, cs, ns))
			}
			t.Logf("helm install --wait: %s", time.Since(began).Round(time.Millisecond))
			checkPods(ctx, t, cs, ns)
			if r.webhook {
				if err := callWebhook(ctx, cs, ns, ca); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// installCRDs installs what the components watch: Gardener's extension and
// resource CRDs, machine-controller-manager's, metal-operator's, Cluster
// API IPAM's and MetalLB's, from the Go module cache like the rest of the
// suite.
func installCRDs(n *realnode.Node) error {
	paths, err := testenv.CRDPaths(testenv.GardenerExtensions, testenv.GardenerResources, testenv.MachineControllerManager,
		testenv.MetalOperator, testenv.ClusterAPIIPAM)
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
// role's preset and values.
func helmInstall(ctx context.Context, t *testing.T, root, kubeconfig, ns, preset string, values map[string]any) ([]byte, error) {
	dir := t.TempDir()
	b, err := yaml.Marshal(values)
	if err != nil {
		return nil, err
	}
	valuesFile := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(valuesFile, b, 0o600); err != nil {
		return nil, err
	}
	chart := filepath.Join(root, "charts", "metalkube")
	cmd := exec.CommandContext(ctx, filepath.Join(root, "bin", "helm"), "install", release, chart,
		"--kubeconfig", kubeconfig, "--namespace", ns,
		"-f", filepath.Join(chart, "presets", preset+".yaml"), "-f", valuesFile,
		"--wait", "--timeout", "5m")
	// Helm's own files stay in the test's directory.
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+dir+"/cache", "HELM_CONFIG_HOME="+dir+"/config", "HELM_DATA_HOME="+dir+"/data")
	return cmd.CombinedOutput()
}

// checkPods asserts that every pod of the namespace is Ready, has never
// restarted, and runs as the chart says: non-root, read-only root
// filesystem.
func checkPods(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatalf("no pods in %s", ns)
	}
	for _, p := range pods.Items {
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			t.Errorf("pod %s not Ready: %s", p.Name, p.Status.Phase)
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.RestartCount > 0 {
				t.Errorf("pod %s container %s restarted %d times", p.Name, c.Name, c.RestartCount)
			}
		}
		for _, c := range p.Spec.Containers {
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("pod %s container %s: root filesystem not read-only", p.Name, c.Name)
			}
		}
		nonRoot := p.Spec.SecurityContext != nil && p.Spec.SecurityContext.RunAsNonRoot != nil && *p.Spec.SecurityContext.RunAsNonRoot
		if !nonRoot {
			t.Errorf("pod %s: runAsNonRoot not set", p.Name)
		}
		t.Logf("pod %s Ready on %s (%s)", p.Name, p.Spec.NodeName, p.Status.PodIP)
	}
	if t.Failed() {
		t.Log(podReport(ctx, cs, ns))
	}
}

// podReport is the pods' status and the end of their logs, for a failure.
func podReport(ctx context.Context, cs kubernetes.Interface, ns string) string {
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

// webhookService is the extension's webhook Service (the chart's name for
// the release "metalkube").
const webhookService = "metalkube-extension-webhook"

// webhookCert issues the webhook's serving certificate for its Service from
// a fresh CA into the chart's tlsSecret and returns the CA.
func webhookCert(ctx context.Context, cs kubernetes.Interface, ns string) ([]byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "realnode-webhook-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: webhookService},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{webhookService + "." + ns + ".svc", webhookService + "." + ns + ".svc.cluster.local"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "metalkube-extension-webhook-tls", Namespace: ns},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
		},
	}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}

// callWebhook sends an AdmissionReview to the extension's control plane
// webhook through its Service's ClusterIP (kube-proxy's rules) and checks
// the TLS certificate against the CA and the answer's UID.
func callWebhook(ctx context.Context, cs kubernetes.Interface, ns string, ca []byte) error {
	svc, err := cs.CoreV1().Services(ns).Get(ctx, webhookService, metav1.GetOptions{})
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, ServerName: webhookService + "." + ns + ".svc", MinVersion: tls.VersionTLS12,
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
