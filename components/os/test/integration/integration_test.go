package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gardenerosc "github.com/gardener/gardener/extensions/pkg/controller/operatingsystemconfig"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	v1beta1constants "github.com/gardener/gardener/pkg/apis/core/v1beta1/constants"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/os/app"
	"github.com/metalkube/metalkube/components/os/controller/operatingsystemconfig"
	"github.com/metalkube/metalkube/components/os/internal/testosc"
	"github.com/metalkube/metalkube/components/os/internal/userdatatest"
	"github.com/metalkube/metalkube/shared/scheme"
	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Verbose() {
		logf.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr)))
	} else {
		logf.SetLogger(logr.Discard())
	}
	os.Exit(testenv.Main(m, testenv.Options{
		CRDs:   []testenv.CRDSet{testenv.GardenerExtensions},
		Scheme: scheme.New(extensionsv1alpha1.AddToScheme),
	}, &env))
}

const timeout = 30 * time.Second

// startController runs the controller as `metalkube os` does (app.AddToManager,
// default flags) on a manager with the production options.
func startController(t *testing.T) *requests {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// The manager's requests are recorded, to check what it lists and watches.
	reqs := &requests{}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return recording{rt, reqs} })
	opts := env.ManagerOptions()
	app.ManagerOptions(&opts)
	opts.LeaderElectionReleaseOnCancel = true
	mgr, err := manager.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	add, err := app.NewControllerOptions().Complete()
	if err != nil {
		t.Fatal(err)
	}
	// Each test runs its own manager in this one process.
	add.Controller.SkipNameValidation = ptr.To(true)
	if err := app.AddToManager(ctx, mgr, add); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return reqs
}

// requests records the method, path and query of HTTP requests.
type requests struct {
	mu  sync.Mutex
	all []string
}

func (r *requests) secretReads() (lists []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range r.all {
		if strings.Contains(q, "/secrets") && strings.HasPrefix(q, "GET ") && !strings.Contains(strings.SplitN(q, "/secrets", 2)[1], "/") {
			lists = append(lists, q) // a list or watch: no name after /secrets
		}
	}
	return lists
}

type recording struct {
	rt   http.RoundTripper
	reqs *requests
}

func (r recording) RoundTrip(req *http.Request) (*http.Response, error) {
	r.reqs.mu.Lock()
	r.reqs.all = append(r.reqs.all, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery)
	r.reqs.mu.Unlock()
	return r.rt.RoundTrip(req)
}

// setupNamespace creates the shoot namespace, its Cluster and the Secrets
// files refer to.
func setupNamespace(t *testing.T, ctx context.Context) {
	t.Helper()
	c := env.Client
	raw := func(v string) runtime.RawExtension { return runtime.RawExtension{Raw: []byte(v)} }
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testosc.Namespace}},
		&extensionsv1alpha1.Cluster{
			ObjectMeta: metav1.ObjectMeta{Name: testosc.Namespace},
			Spec: extensionsv1alpha1.ClusterSpec{
				CloudProfile: raw(`{"apiVersion":"core.gardener.cloud/v1beta1","kind":"CloudProfile","metadata":{"name":"metal"}}`),
				Seed:         ptr.To(raw(`{"apiVersion":"core.gardener.cloud/v1beta1","kind":"Seed","metadata":{"name":"metal-seed"}}`)),
				Shoot:        raw(`{"apiVersion":"core.gardener.cloud/v1beta1","kind":"Shoot","metadata":{"name":"prod","namespace":"garden-metal"}}`),
			},
		},
	}
	for _, s := range testosc.Secrets() {
		objs = append(objs, s)
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// requestReconcile annotates the OSC as gardenlet does to ask for a reconcile.
func requestReconcile(osc *extensionsv1alpha1.OperatingSystemConfig) {
	if osc.Annotations == nil {
		osc.Annotations = map[string]string{}
	}
	osc.Annotations[v1beta1constants.GardenerOperation] = v1beta1constants.GardenerOperationReconcile
}

// waitFor polls the OSC until cond holds.
func waitFor(t *testing.T, ctx context.Context, name string, what string, cond func(*extensionsv1alpha1.OperatingSystemConfig) bool) *extensionsv1alpha1.OperatingSystemConfig {
	t.Helper()
	osc := &extensionsv1alpha1.OperatingSystemConfig{}
	testkit.EventuallyWithin(t, timeout, "OSC "+name+": "+what, func() (bool, string) {
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: testosc.Namespace, Name: name}, osc)
		return err == nil && cond(osc), fmt.Sprintf("get: %v; status: %+v", err, osc.Status)
	})
	return osc
}

func succeeded(gen int64) func(*extensionsv1alpha1.OperatingSystemConfig) bool {
	return func(o *extensionsv1alpha1.OperatingSystemConfig) bool {
		lo := o.Status.LastOperation
		return o.Status.ObservedGeneration >= gen && lo != nil && lo.State == gardencorev1beta1.LastOperationStateSucceeded &&
			o.Annotations[v1beta1constants.GardenerOperation] == ""
	}
}

func userDataSecret(t *testing.T, ctx context.Context, name string) (*corev1.Secret, error) {
	t.Helper()
	s := &corev1.Secret{}
	err := env.Client.Get(ctx, client.ObjectKey{Namespace: testosc.Namespace, Name: "osc-result-" + name}, s)
	return s, err
}

func TestProvisionLifecycle(t *testing.T) {
	ctx := context.Background()
	setupNamespace(t, ctx)
	startController(t)
	c := env.Client

	// Created: the user-data Secret and status.cloudConfig.
	osc := testosc.Realistic("lifecycle", "flatcar")
	requestReconcile(osc)
	if err := c.Create(ctx, osc); err != nil {
		t.Fatal(err)
	}
	osc = waitFor(t, ctx, osc.Name, "first reconcile", succeeded(1))
	if osc.Status.CloudConfig == nil || osc.Status.CloudConfig.SecretRef.Name != "osc-result-lifecycle" || osc.Status.CloudConfig.SecretRef.Namespace != testosc.Namespace {
		t.Fatalf("status.cloudConfig = %+v", osc.Status.CloudConfig)
	}
	if len(osc.Status.ExtensionUnits) != 0 || len(osc.Status.ExtensionFiles) != 0 {
		t.Errorf("provision OSC got extension units/files: %+v %+v", osc.Status.ExtensionUnits, osc.Status.ExtensionFiles)
	}
	if !slicesContains(osc.Finalizers, gardenerosc.FinalizerName) {
		t.Errorf("finalizers %v lack %s", osc.Finalizers, gardenerosc.FinalizerName)
	}
	secret, err := userDataSecret(t, ctx, osc.Name)
	if err != nil {
		t.Fatal(err)
	}
	userData := secret.Data[extensionsv1alpha1.OperatingSystemConfigSecretDataKey]
	userdatatest.Ignition(t, userData)
	tr := &operatingsystemconfig.Translator{Secrets: c, Formats: operatingsystemconfig.DefaultFormats(), DefaultFormat: "cloud-init"}
	want, err := tr.Translate(ctx, osc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(userData, want.UserData) {
		t.Errorf("secret holds other user data than the translation")
	}
	if owner := metav1.GetControllerOf(secret); owner == nil || owner.UID != osc.UID {
		t.Errorf("secret's controller is %+v, want the OSC", owner)
	}

	// Updated: re-rendered.
	osc.Spec.Files[6].Content.Inline.Data = "#!/bin/sh\necho health-monitor v2\n"
	requestReconcile(osc)
	if err := c.Update(ctx, osc); err != nil {
		t.Fatal(err)
	}
	osc = waitFor(t, ctx, osc.Name, "reconcile after update", succeeded(osc.Generation))
	secret, err = userDataSecret(t, ctx, osc.Name)
	if err != nil {
		t.Fatal(err)
	}
	updated := secret.Data[extensionsv1alpha1.OperatingSystemConfigSecretDataKey]
	userdatatest.Ignition(t, updated)
	if bytes.Equal(updated, userData) || !strings.Contains(string(updated), "health-monitor%20v2") {
		t.Errorf("user data not re-rendered after the update")
	}

	// Updated to something invalid: an error naming the file, the last good
	// user data stays.
	osc.Spec.Files[6].Content.Inline.Encoding = "gzip"
	requestReconcile(osc)
	if err := c.Update(ctx, osc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, osc.Name, "error on the OSC", func(o *extensionsv1alpha1.OperatingSystemConfig) bool {
		return o.Status.LastError != nil && strings.Contains(o.Status.LastError.Description, `file "/opt/bin/health-monitor": unknown encoding "gzip"`)
	})
	secret, err = userDataSecret(t, ctx, osc.Name)
	if err != nil || !bytes.Equal(secret.Data[extensionsv1alpha1.OperatingSystemConfigSecretDataKey], updated) {
		t.Errorf("a failed reconcile changed the user data (get: %v)", err)
	}

	// Deleted: the Secret goes, the finalizer is removed, the OSC is gone.
	if err := c.Delete(ctx, osc); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	for {
		errOSC := c.Get(ctx, client.ObjectKeyFromObject(osc), &extensionsv1alpha1.OperatingSystemConfig{})
		_, errSecret := userDataSecret(t, ctx, osc.Name)
		if apierrors.IsNotFound(errOSC) && apierrors.IsNotFound(errSecret) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after delete: OSC get %v, secret get %v", errOSC, errSecret)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestProvisionCloudInit(t *testing.T) {
	ctx := context.Background()
	setupNamespace(t, ctx)
	reqs := startController(t)

	osc := testosc.Realistic("cloud-init", "ubuntu")
	requestReconcile(osc)
	if err := env.Client.Create(ctx, osc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, osc.Name, "reconcile", succeeded(1))
	secret, err := userDataSecret(t, ctx, osc.Name)
	if err != nil {
		t.Fatal(err)
	}
	userdatatest.CloudInit(t, secret.Data[extensionsv1alpha1.OperatingSystemConfigSecretDataKey])
	// The controller read the Secrets the OSC refers to and wrote its
	// result, without listing or watching Secrets (no cache of the seed's
	// Secrets).
	if lists := reqs.secretReads(); len(lists) > 0 {
		t.Errorf("the controller listed or watched Secrets: %v", lists)
	}
}

func TestReconcilePurpose(t *testing.T) {
	ctx := context.Background()
	setupNamespace(t, ctx)
	startController(t)

	osc := testosc.Realistic("reconcile", "ubuntu")
	osc.Spec.Purpose = extensionsv1alpha1.OperatingSystemConfigPurposeReconcile
	requestReconcile(osc)
	if err := env.Client.Create(ctx, osc); err != nil {
		t.Fatal(err)
	}
	osc = waitFor(t, ctx, osc.Name, "reconcile", succeeded(1))
	if osc.Status.CloudConfig != nil {
		t.Errorf("reconcile OSC got a cloudConfig: %+v", osc.Status.CloudConfig)
	}
	if _, err := userDataSecret(t, ctx, osc.Name); !apierrors.IsNotFound(err) {
		t.Errorf("reconcile OSC got a user-data secret (get: %v)", err)
	}
	paths := map[string]bool{}
	for _, f := range osc.Status.ExtensionFiles {
		paths[f.Path] = true
	}
	for _, p := range []string{operatingsystemconfig.DNSConfigPath, operatingsystemconfig.NTPConfigPath, "/etc/containerd/certs.d/docker.io/hosts.toml"} {
		if !paths[p] {
			t.Errorf("status.extensionFiles lacks %s: %v", p, paths)
		}
	}
	units := map[string]extensionsv1alpha1.Unit{}
	for _, u := range osc.Status.ExtensionUnits {
		units[u.Name] = u
	}
	if u := units["systemd-resolved.service"]; ptr.Deref(u.Command, "") != extensionsv1alpha1.CommandRestart || len(u.FilePaths) != 1 {
		t.Errorf("systemd-resolved.service extension unit = %+v", u)
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	setupNamespace(t, ctx)
	startController(t)

	inline := func(enc, data string) extensionsv1alpha1.FileContent {
		return extensionsv1alpha1.FileContent{Inline: &extensionsv1alpha1.FileContentInline{Encoding: enc, Data: data}}
	}
	cases := []struct {
		name   string
		mutate func(*extensionsv1alpha1.OperatingSystemConfig)
		want   string
	}{
		{"unknown-encoding", func(o *extensionsv1alpha1.OperatingSystemConfig) {
			o.Spec.Files = append(o.Spec.Files, extensionsv1alpha1.File{Path: "/etc/zipped", Content: inline("gzip", "H4sI")})
		}, `file "/etc/zipped": unknown encoding "gzip"`},
		{"missing-secret", func(o *extensionsv1alpha1.OperatingSystemConfig) {
			o.Spec.Files = append(o.Spec.Files, extensionsv1alpha1.File{Path: "/etc/secret.conf",
				Content: extensionsv1alpha1.FileContent{SecretRef: &extensionsv1alpha1.FileContentSecretRef{Name: "does-not-exist", DataKey: "x"}}})
		}, fmt.Sprintf(`file "/etc/secret.conf": secret %s/does-not-exist not found`, testosc.Namespace)},
		{"two-files-one-path", func(o *extensionsv1alpha1.OperatingSystemConfig) {
			o.Spec.Files = append(o.Spec.Files, extensionsv1alpha1.File{Path: "/etc/motd", Content: inline("b64", base64.StdEncoding.EncodeToString([]byte("x")))})
		}, `file "/etc/motd" is defined twice`},
		{"unit-without-name", func(o *extensionsv1alpha1.OperatingSystemConfig) {
			o.Spec.Units = append(o.Spec.Units, extensionsv1alpha1.Unit{Content: ptr.To("[Service]\nExecStart=/bin/true\n")})
		}, `unit #9 has no name`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			osc := testosc.Realistic("bad-"+tc.name, "ubuntu")
			tc.mutate(osc)
			requestReconcile(osc)
			if err := env.Client.Create(ctx, osc); err != nil {
				t.Fatal(err)
			}
			osc = waitFor(t, ctx, osc.Name, "an error", func(o *extensionsv1alpha1.OperatingSystemConfig) bool {
				lo := o.Status.LastOperation
				return o.Status.LastError != nil && lo != nil && lo.State == gardencorev1beta1.LastOperationStateError
			})
			if !strings.Contains(osc.Status.LastError.Description, tc.want) {
				t.Errorf("lastError %q does not say %q", osc.Status.LastError.Description, tc.want)
			}
			if configProblem := slices.Contains(osc.Status.LastError.Codes, gardencorev1beta1.ErrorConfigurationProblem); configProblem != (tc.name != "missing-secret") {
				t.Errorf("lastError codes %v", osc.Status.LastError.Codes)
			}
			if lo := osc.Status.LastOperation; lo == nil || lo.State != gardencorev1beta1.LastOperationStateError {
				t.Errorf("lastOperation = %+v, want state Error", lo)
			}
			if osc.Status.CloudConfig != nil {
				t.Errorf("status.cloudConfig set despite the error: %+v", osc.Status.CloudConfig)
			}
			if _, err := userDataSecret(t, ctx, osc.Name); !apierrors.IsNotFound(err) {
				t.Errorf("user-data secret written despite the error (get: %v)", err)
			}
		})
	}
}

// TestUserDataOverLimit updates a provisioned OSC so that its user data no
// longer fits into a Secret: the error names the largest files and the limit,
// is a configuration problem, and the previous user data stays.
func TestUserDataOverLimit(t *testing.T) {
	ctx := context.Background()
	setupNamespace(t, ctx)
	startController(t)

	rng := rand.New(rand.NewPCG(3, 4))
	// One Secret per file: a Secret holds 1 MiB at most, too.
	for _, k := range []string{"a", "b", "c"} {
		b := make([]byte, 350<<10)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "big-" + k, Namespace: testosc.Namespace}, Data: map[string][]byte{"data": b}}
		if err := env.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}

	osc := testosc.Realistic("too-large", "flatcar")
	requestReconcile(osc)
	if err := env.Client.Create(ctx, osc); err != nil {
		t.Fatal(err)
	}
	osc = waitFor(t, ctx, osc.Name, "success", succeeded(osc.Generation))
	before, err := userDataSecret(t, ctx, osc.Name)
	if err != nil {
		t.Fatal(err)
	}

	for _, k := range []string{"a", "b", "c"} {
		osc.Spec.Files = append(osc.Spec.Files, extensionsv1alpha1.File{Path: "/opt/big/" + k,
			Content: extensionsv1alpha1.FileContent{SecretRef: &extensionsv1alpha1.FileContentSecretRef{Name: "big-" + k, DataKey: "data"}}})
	}
	requestReconcile(osc)
	if err := env.Client.Update(ctx, osc); err != nil {
		t.Fatal(err)
	}
	osc = waitFor(t, ctx, osc.Name, "an error", func(o *extensionsv1alpha1.OperatingSystemConfig) bool {
		lo := o.Status.LastOperation
		return o.Status.LastError != nil && lo != nil && lo.State == gardencorev1beta1.LastOperationStateError
	})
	desc := osc.Status.LastError.Description
	for _, want := range []string{`file "/opt/big/a" (358400 bytes)`, `file "/opt/big/b"`, `file "/opt/big/c"`, "limit of 1048576 bytes"} {
		if !strings.Contains(desc, want) {
			t.Errorf("lastError %q does not say %q", desc, want)
		}
	}
	if !slices.Contains(osc.Status.LastError.Codes, gardencorev1beta1.ErrorConfigurationProblem) {
		t.Errorf("lastError codes %v, want %s", osc.Status.LastError.Codes, gardencorev1beta1.ErrorConfigurationProblem)
	}
	after, err := userDataSecret(t, ctx, osc.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after.Data["cloud_config"], before.Data["cloud_config"]) || after.ResourceVersion != before.ResourceVersion {
		t.Errorf("user-data secret changed after the refused update")
	}
}

func slicesContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
