package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/shared/component"
	"github.com/metalkube/metalkube/shared/scheme"
)

// BinDirEnv overrides where the control plane binaries are looked up.
const BinDirEnv = "METALKUBE_TESTBIN"

// Options configure an environment.
type Options struct {
	// CRDs are the upstream CRD sets to install.
	CRDs []CRDSet
	// CRDPaths are extra CRD files or directories (metalkube's own CRDs).
	CRDPaths []string
	// Scheme for the client; defaults to scheme.New() (Kubernetes, metal-operator,
	// Cluster API IPAM).
	Scheme *runtime.Scheme
	// Output attaches the control plane's output to the test's stdout/stderr.
	Output bool
	// IPAM installs the Cluster API IPAM CRDs and runs the real Cluster API
	// in-cluster IPAM provider against the environment (see StartIPAM).
	IPAM bool
	// APIAudiences, if set, are the kube-apiserver's --api-audiences: the
	// audiences of service account tokens it accepts (Gardener runs a shoot's
	// with "kubernetes" and "gardener", the audience of the shoot access
	// tokens gardener-resource-manager requests).
	APIAudiences []string
	// Webhooks are admission webhook configurations to install, pointing at
	// a local webhook server (envtest rewrites each to
	// https://127.0.0.1:<port><service path> with its own CA): serve them
	// on Env.Webhooks' host, port and certificate directory.
	Webhooks WebhookConfigurations
	// GardenerAPIServer runs the real gardener-apiserver (PeerGardenerAPIServer,
	// built by `make testbin`) as an aggregated API server of the
	// environment, on the environment's etcd: the kube-apiserver gets a
	// front proxy (its --requestheader-* and --proxy-client-* flags) and
	// Gardener's group versions are registered as APIServices. Clients of
	// the environment then create Shoots, CloudProfiles, Projects, ... through
	// the kube-apiserver, and gardener-apiserver calls the admission webhooks
	// registered for them.
	GardenerAPIServer bool
}

// WebhookConfigurations are the admission webhook configurations a test
// environment installs.
type WebhookConfigurations struct {
	Mutating   []*admissionv1.MutatingWebhookConfiguration
	Validating []*admissionv1.ValidatingWebhookConfiguration
}

// WebhookServer is where the environment's webhook configurations call:
// a webhook server listens on Host:Port with the certificate in CertDir
// (tls.crt, tls.key).
type WebhookServer struct {
	Host    string
	Port    int
	CertDir string
}

// Env is a running test control plane.
type Env struct {
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
	// Kubeconfig is the path of a kubeconfig file for the environment's admin user.
	Kubeconfig string
	// Webhooks is where the installed webhook configurations call; nil
	// without Options.Webhooks.
	Webhooks *WebhookServer

	env        *envtest.Environment
	dir        string
	beforeStop []func()
}

// Start starts etcd and kube-apiserver and installs the CRDs.
func Start(opts Options) (*Env, error) {
	if _, err := BinDir(); err != nil {
		return nil, err
	}
	s, paths, labelled, err := crdSetup(opts)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "metalkube-testenv-")
	if err != nil {
		return nil, err
	}
	return start(opts, s, paths, labelled, dir)
}

// crdSetup resolves the options' CRDs and scheme.
func crdSetup(opts Options) (*runtime.Scheme, []string, []*apiextensionsv1.CustomResourceDefinition, error) {
	sets := opts.CRDs
	if opts.IPAM {
		for _, set := range []CRDSet{ClusterAPIIPAM, InClusterIPAM} {
			if !slices.Contains(sets, set) {
				sets = append(sets, set)
			}
		}
	}
	plain, labelled, err := splitLabelled(sets)
	if err != nil {
		return nil, nil, nil, err
	}
	paths, err := CRDPaths(plain...)
	if err != nil {
		return nil, nil, nil, err
	}
	paths = append(paths, opts.CRDPaths...)
	s := opts.Scheme
	if s == nil {
		s = scheme.New()
	}
	return s, paths, labelled, nil
}

// Attach makes an environment of an API server that runs already (a real
// node's), with cfg an admin's config: it installs the CRDs, writes a
// kubeconfig with the credentials inline (as the peers read it) and, with
// Options.IPAM, runs the IPAM provider. Options.APIAudiences and
// Options.Webhooks are the API server's own business and must be empty;
// Stop leaves the API server running.
func Attach(cfg *rest.Config, opts Options) (*Env, error) {
	if len(opts.APIAudiences) > 0 {
		return nil, errors.New("testenv.Attach: Options.APIAudiences are the running API server's flags")
	}
	if len(opts.Webhooks.Mutating)+len(opts.Webhooks.Validating) > 0 {
		return nil, errors.New("testenv.Attach: Options.Webhooks need a control plane the environment starts")
	}
	if opts.GardenerAPIServer {
		return nil, errors.New("testenv.Attach: Options.GardenerAPIServer needs a control plane the environment starts")
	}
	s, paths, labelled, err := crdSetup(opts)
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 1000, 2000
	if err := rest.LoadTLSFiles(cfg); err != nil {
		return nil, fmt.Errorf("credentials of %s: %w", cfg.Host, err)
	}
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: paths, CRDs: labelled, ErrorIfPathMissing: true, Scheme: s}); err != nil {
		return nil, fmt.Errorf("install CRDs into %s: %w", cfg.Host, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "metalkube-testenv-")
	if err != nil {
		return nil, err
	}
	env := &Env{Config: cfg, Client: c, Scheme: s, Kubeconfig: filepath.Join(dir, "kubeconfig"), dir: dir}
	return env.finish(opts.IPAM)
}

// finish writes the environment's kubeconfig and, with ipam, runs the IPAM
// provider; on error it stops the environment.
func (e *Env) finish(ipam bool) (*Env, error) {
	if err := WriteKubeconfig(e.Config, e.Kubeconfig); err != nil {
		_ = e.Stop()
		return nil, err
	}
	if ipam {
		if _, err := e.StartIPAM(context.Background()); err != nil {
			_ = e.Stop()
			return nil, err
		}
	}
	return e, nil
}

func start(opts Options, s *runtime.Scheme, paths []string, labelled []*apiextensionsv1.CustomResourceDefinition, dir string) (*Env, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	e := &envtest.Environment{
		BinaryAssetsDirectory:    bin,
		CRDInstallOptions:        envtest.CRDInstallOptions{Paths: paths, CRDs: labelled, ErrorIfPathMissing: true, Scheme: s},
		AttachControlPlaneOutput: opts.Output,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			MutatingWebhooks: opts.Webhooks.Mutating, ValidatingWebhooks: opts.Webhooks.Validating,
		},
	}
	if err := dieWithParent(e, bin, dir); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	// After dieWithParent, which replaces the API server.
	if len(opts.APIAudiences) > 0 {
		e.ControlPlane.GetAPIServer().Configure().Set("api-audiences", strings.Join(opts.APIAudiences, ","))
	}
	if opts.GardenerAPIServer {
		if _, err := PeerBinary(PeerGardenerAPIServer); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		if err := configureFrontProxy(e.ControlPlane.GetAPIServer().Configure(), dir); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	cfg, err := e.Start()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start test control plane from %s: %w", bin, err)
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		_ = e.Stop()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	env := &Env{Config: cfg, Client: c, Scheme: s, env: e, dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	if w := e.WebhookInstallOptions; len(w.MutatingWebhooks)+len(w.ValidatingWebhooks) > 0 {
		env.Webhooks = &WebhookServer{Host: w.LocalServingHost, Port: w.LocalServingPort, CertDir: w.LocalServingCertDir}
	}
	if env, err = env.finish(opts.IPAM); err != nil || !opts.GardenerAPIServer {
		return env, err
	}
	if err := env.startGardenerAPIServer(context.Background(), e.ControlPlane.Etcd.URL.String()); err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("start %s: %w", PeerGardenerAPIServer, err)
	}
	return env, nil
}

// dieWithParent makes etcd and kube-apiserver die with the process that
// starts them, as every other process the harness starts does (Pdeathsig):
// envtest starts them in their own process group without a parent-death
// signal, so a test binary or demo killed with SIGKILL, or dying of a signal
// it did not handle, would leave them running. Each is started through a
// small script in dir that asks the kernel for SIGKILL on the parent's death
// (util-linux's setpriv, part of every Debian) and then executes the binary,
// so envtest still signals and waits for the binary itself. Without setpriv
// the binaries are started directly.
func dieWithParent(e *envtest.Environment, bin, dir string) error {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return nil
	}
	wrap := func(name string) (string, error) {
		p := filepath.Join(dir, name)
		script := fmt.Sprintf("#!/bin/sh\nexec %q --pdeathsig KILL -- %q \"$@\"\n", setpriv, filepath.Join(bin, name))
		if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
			return "", fmt.Errorf("write %s: %w", p, err)
		}
		return p, nil
	}
	apiserver, err := wrap("kube-apiserver")
	if err != nil {
		return err
	}
	etcd, err := wrap("etcd")
	if err != nil {
		return err
	}
	e.ControlPlane.APIServer = &envtest.APIServer{Path: apiserver}
	e.ControlPlane.Etcd = &envtest.Etcd{Path: etcd}
	return nil
}

// BeforeStop registers f to run when Stop is called, before the control plane
// stops (last registered, first run). Stop anything that watches the API
// server there, such as the fleet's hardware: open watches hold its shutdown up.
func (e *Env) BeforeStop(f func()) { e.beforeStop = append(e.beforeStop, f) }

// Stop runs the BeforeStop functions, stops the control plane and removes its
// files.
func (e *Env) Stop() error {
	for i := len(e.beforeStop) - 1; i >= 0; i-- {
		e.beforeStop[i]()
	}
	e.beforeStop = nil
	if e.env == nil { // Attach: the API server is not the environment's
		return os.RemoveAll(e.dir)
	}
	err := e.env.Stop()
	return errors.Join(err, os.RemoveAll(e.dir))
}

// Runtime is the production runtime configuration of a component named name
// on the environment, adapted to a test: metrics and probes on free loopback
// ports, leader election kept on, with the production lease durations (long
// enough for a loaded machine; released when the manager stops), in the
// default namespace. Tests build component Configs with it.
func (e *Env) Runtime(name string) *component.Config {
	m := component.NewManagerOptions("metalkube-test-" + name)
	m.LeaderElectionNamespace = "default"
	m.MetricsBindAddress, m.HealthProbeBindAddress = "127.0.0.1:0", "127.0.0.1:0"
	return &component.Config{Name: name, REST: rest.CopyConfig(e.Config), Manager: m}
}

// ManagerOptions are the production manager options (see Runtime) with the
// environment's scheme.
func (e *Env) ManagerOptions() manager.Options {
	return e.Runtime("test").ManagerOptions(e.Scheme)
}

// NewManager returns a manager on the environment with ManagerOptions, changed
// by the given functions.
func (e *Env) NewManager(mutate ...func(*manager.Options)) (manager.Manager, error) {
	opts := e.ManagerOptions()
	for _, m := range mutate {
		m(&opts)
	}
	return manager.New(e.Config, opts)
}

// Runner runs a test binary's tests and returns its exit code: *testing.M,
// or a suite's wrapper that checks something after the tests ran (before
// the environment stops).
type Runner interface{ Run() int }

// Main starts an environment for a test binary, runs its tests and stops it
// (after its BeforeStop functions). It returns the exit code for os.Exit.
func Main(m Runner, opts Options, env **Env) int {
	e, err := Start(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		return 1
	}
	*env = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: stop: %v\n", err)
	}
	return code
}

// BinDir finds the directory holding kube-apiserver and etcd: $METALKUBE_TESTBIN,
// else bin/ in the repository root above the working directory.
func BinDir() (string, error) {
	if d := os.Getenv(BinDirEnv); d != "" {
		return checkBin(d)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return checkBin(filepath.Join(dir, "bin"))
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.work above %s; set %s to the directory with kube-apiserver and etcd", wd, BinDirEnv)
		}
	}
}

func checkBin(dir string) (string, error) {
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("test control plane binary %s missing in %s: run `make testbin` (builds it from the Go module proxy)", b, dir)
		}
	}
	return dir, nil
}

// WriteKubeconfig writes a kubeconfig for cfg to path.
func WriteKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["metalkube"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["metalkube"] = &clientcmdapi.Context{Cluster: "metalkube", AuthInfo: "admin"}
	kc.CurrentContext = "metalkube"
	return clientcmd.WriteToFile(*kc, path)
}
