package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/metalkube/metalkube/shared/testkit/pki"
)

// PeerGardenerAPIServer is Gardener's API server (Shoots, CloudProfiles,
// Projects, ... of core.gardener.cloud and its other groups), built by
// `make testbin` at the gardener version the workspace requires.
const PeerGardenerAPIServer = "gardener-apiserver"

// The aggregation layer's front proxy: kube-apiserver authenticates to the
// aggregated API servers with this client certificate, and they trust the
// user it names in the headers below (--requestheader-* flags, published in
// kube-system/extension-apiserver-authentication).
const (
	frontProxyClient       = "front-proxy-client"
	frontProxyUserHeader   = "X-Remote-User"
	frontProxyGroupHeader  = "X-Remote-Group"
	frontProxyExtraHeaders = "X-Remote-Extra-"
)

// gardenerService is the Service in kube-system the APIServices name: an
// ExternalName of localhost, where gardener-apiserver listens, so that the
// aggregator reaches it as <name>.kube-system.svc on loopback.
const gardenerService = "gardener-apiserver"

// configureFrontProxy issues the front proxy's CA and client certificate into
// dir and sets the kube-apiserver flags that make it an aggregator.
func configureFrontProxy(args *envtest.Arguments, dir string) error {
	ca, err := pki.NewCA("metalkube-testenv-front-proxy-ca")
	if err != nil {
		return err
	}
	kp, err := ca.Issue(frontProxyClient, nil, nil, nil)
	if err != nil {
		return err
	}
	files := map[string][]byte{"front-proxy-ca.crt": ca.PEM, "front-proxy-client.crt": kp.Cert, "front-proxy-client.key": kp.Key}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	args.Set("requestheader-client-ca-file", filepath.Join(dir, "front-proxy-ca.crt")).
		Set("requestheader-allowed-names", frontProxyClient).
		Set("requestheader-username-headers", frontProxyUserHeader).
		Set("requestheader-group-headers", frontProxyGroupHeader).
		Set("requestheader-extra-headers-prefix", frontProxyExtraHeaders).
		Set("proxy-client-cert-file", filepath.Join(dir, "front-proxy-client.crt")).
		Set("proxy-client-key-file", filepath.Join(dir, "front-proxy-client.key"))
	return nil
}

// startGardenerAPIServer runs gardener-apiserver against the environment,
// storing in etcd (under its own prefix, /registry-gardener), delegating
// authentication and authorization to the kube-apiserver as the admin, and
// registers every group version it serves as an APIService, so that
// clients of the kube-apiserver (and its admission webhooks' callers) see
// Gardener's API. It returns once Shoots can be listed through the
// kube-apiserver. Gardener's admission plugins (ExtensionValidator,
// ExtensionLabels, ShootValidator, ...) and the Mutating/Validating
// AdmissionWebhook plugins run in it, reading the webhook configurations
// from the kube-apiserver.
func (e *Env) startGardenerAPIServer(ctx context.Context, etcdURL string) error {
	addr, err := FreeAddr()
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(addr)
	ca, err := pki.NewCA("metalkube-testenv-gardener-apiserver-ca")
	if err != nil {
		return err
	}
	serving, err := ca.Issue(gardenerService, nil, []net.IP{net.ParseIP(host)},
		[]string{"localhost", gardenerService + ".kube-system.svc", gardenerService + ".kube-system.svc.cluster.local"})
	if err != nil {
		return err
	}
	cert, key := filepath.Join(e.dir, "gardener-apiserver.crt"), filepath.Join(e.dir, "gardener-apiserver.key")
	if err := os.WriteFile(cert, serving.Cert, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(key, serving.Key, 0o600); err != nil {
		return err
	}
	probes := "/healthz,/readyz,/livez"
	p, err := e.StartPeer(ctx, PeerSpec{Name: PeerGardenerAPIServer, HealthAddr: addr, HealthCA: ca.PEM, Args: []string{
		"--bind-address=" + host, "--secure-port=" + port,
		"--tls-cert-file=" + cert, "--tls-private-key-file=" + key,
		"--etcd-servers=" + etcdURL,
		"--cluster-identity=metalkube-testenv",
		"--kubeconfig=" + e.Kubeconfig,
		"--authentication-kubeconfig=" + e.Kubeconfig, "--authorization-kubeconfig=" + e.Kubeconfig,
		"--authorization-always-allow-paths=" + probes,
	}})
	if err != nil {
		return err
	}
	if err := e.registerGardenerAPIs(ctx, addr, ca.PEM); err != nil {
		return fmt.Errorf("%w\n--- end of %s:\n%s", err, p.Log, logTail(p.Log, 4000))
	}
	return nil
}

// logTail is the last n bytes of a log file, or why it cannot be read.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b[max(0, len(b)-n):])
}

// registerGardenerAPIs creates the ExternalName Service and an APIService
// for every group version gardener-apiserver at addr serves (asked of the
// server itself) and waits until they are available through the
// kube-apiserver.
func (e *Env) registerGardenerAPIs(ctx context.Context, addr string, caPEM []byte) error {
	direct := rest.CopyConfig(e.Config)
	direct.Host = "https://" + addr
	direct.CAData, direct.CAFile = caPEM, ""
	dc, err := discovery.NewDiscoveryClientForConfig(direct)
	if err != nil {
		return err
	}
	groups, err := dc.ServerGroups()
	if err != nil {
		return fmt.Errorf("%s discovery: %w", PeerGardenerAPIServer, err)
	}
	svc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": gardenerService, "namespace": metav1.NamespaceSystem},
		"spec":     map[string]any{"type": "ExternalName", "externalName": "localhost"},
	}}
	if err := e.Client.Create(ctx, svc); err != nil {
		return fmt.Errorf("create Service %s: %w", gardenerService, err)
	}
	_, p, _ := net.SplitHostPort(addr)
	port, err := strconv.Atoi(p)
	if err != nil {
		return err
	}
	var names []string
	for _, g := range groups.Groups {
		for _, v := range g.Versions {
			name := v.Version + "." + g.Name
			names = append(names, name)
			as := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
				"metadata": map[string]any{"name": name},
				"spec": map[string]any{
					"group": g.Name, "version": v.Version,
					"service":              map[string]any{"name": gardenerService, "namespace": metav1.NamespaceSystem, "port": int64(port)},
					"caBundle":             caPEM,
					"groupPriorityMinimum": int64(100), "versionPriority": int64(100),
				},
			}}
			if err := e.Client.Create(ctx, as); err != nil {
				return fmt.Errorf("create APIService %s: %w", name, err)
			}
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("%s at %s serves no API group", PeerGardenerAPIServer, addr)
	}
	// Available, and Shoots listed through the kube-apiserver (the
	// aggregator's proxy and discovery, gardener-apiserver's storage).
	shoots := &unstructured.UnstructuredList{}
	shoots.SetGroupVersionKind(schema.GroupVersionKind{Group: "core.gardener.cloud", Version: "v1beta1", Kind: "ShootList"})
	var last error
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, name := range names {
			as := &unstructured.Unstructured{}
			as.SetAPIVersion("apiregistration.k8s.io/v1")
			as.SetKind("APIService")
			if err := e.Client.Get(ctx, client.ObjectKey{Name: name}, as); err != nil {
				last = err
				return false, nil
			}
			if !apiServiceAvailable(as) {
				last = fmt.Errorf("APIService %s not available: %v", name, as.Object["status"])
				return false, nil
			}
		}
		last = e.Client.List(ctx, shoots, client.Limit(1))
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("%s registered as %v: %w (last: %v)", PeerGardenerAPIServer, names, err, last)
	}
	return nil
}

// apiServiceAvailable reports whether an APIService's Available condition is
// True.
func apiServiceAvailable(as *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(as.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Available" && m["status"] == "True" {
			return true
		}
	}
	return false
}
