package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	extensionscontroller "github.com/gardener/gardener/extensions/pkg/controller"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	v1beta1constants "github.com/gardener/gardener/pkg/apis/core/v1beta1/constants"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/extension/app"
	"github.com/metalkube/metalkube/components/extension/controller/infrastructure"
	"github.com/metalkube/metalkube/components/extension/scheme"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/memory"
	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit"
)

var env *testenv.Env

var shootSeq atomic.Int32

// mem names the embedded memory backend (its field would otherwise be
// called Backend, shadowing metal.Client's Backend method).
type mem = memory.Backend

func TestMain(m *testing.M) {
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel), zap.StacktraceLevel(zapcore.PanicLevel)))
	os.Exit(testenv.Main(checkSecrets{m}, testenv.Options{
		CRDs:   []testenv.CRDSet{testenv.GardenerExtensions, testenv.GardenerResources, testenv.MachineControllerManager},
		Scheme: scheme.Seed(),
	}, &env))
}

// checkSecrets runs the tests, then stops the extension's manager (before the
// API server stops) and fails the binary if the extension listed or watched
// Secrets (they must not be cached).
type checkSecrets struct{ m *testing.M }

func (c checkSecrets) Run() int {
	code := c.m.Run()
	stopManager()
	if lists := secretLists.get(); len(lists) > 0 {
		fmt.Fprintf(os.Stderr, "the extension listed or watched Secrets (they must not be cached): %v\n", lists)
		code = 1
	}
	return code
}

// backend is the memory backend with networks switched off per cluster, to
// play a backend without a network API (ironcore).
type backend struct {
	*mem
	mu        sync.Mutex
	noNetwork map[string]bool
}

func (b *backend) AllocateNetwork(ctx context.Context, spec metal.NetworkSpec) (*metal.Network, error) {
	b.mu.Lock()
	off := b.noNetwork[spec.Cluster]
	b.mu.Unlock()
	if off {
		return nil, metal.Errorf(metal.ErrUnsupported, "allocate network", spec.Name, "test backend without networks")
	}
	return b.mem.AllocateNetwork(ctx, spec)
}

func (b *backend) disableNetworks(cluster string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.noNetwork[cluster] = true
}

// secretList records lists of every Secret of the cluster and watches of
// Secrets.
type secretList struct {
	mu  sync.Mutex
	all []string
}

func (s *secretList) get() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.all)
}

type recording struct {
	rt   http.RoundTripper
	seen *secretList
}

func (r recording) RoundTrip(req *http.Request) (*http.Response, error) {
	// Namespaced lists by label (the worker's MachineClass Secrets) are
	// fine; the whole cluster's Secrets or a watch are not.
	if req.Method == http.MethodGet && (req.URL.Path == "/api/v1/secrets" || strings.HasSuffix(req.URL.Path, "/secrets") && req.URL.Query().Get("watch") == "true") {
		r.seen.mu.Lock()
		r.seen.all = append(r.seen.all, req.URL.String())
		r.seen.mu.Unlock()
	}
	return r.rt.RoundTrip(req)
}

var (
	secretLists secretList
	startOnce   sync.Once
	metalBE     *backend
	startErr    error
	stopManager = func() {}
)

// start starts the extension's manager once for the package, with the
// production controller switches.
func start(t testing.TB) *backend {
	t.Helper()
	startOnce.Do(func() {
		metalBE = &backend{
			mem: memory.New(memory.Config{Pools: []memory.Pool{
				{Network: "internet", Prefix: netip.MustParsePrefix("203.0.113.0/24")},
			}}),
			noNetwork: map[string]bool{},
		}
		// The manager's requests are recorded: TestMain checks that it never
		// listed or watched Secrets.
		restCfg := rest.CopyConfig(env.Config)
		restCfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return recording{rt, &secretLists} })
		opts := env.ManagerOptions()
		app.ManagerOptions(&opts)
		opts.LeaderElectionReleaseOnCancel = true
		mgr, err := manager.New(restCfg, opts)
		if err != nil {
			startErr = err
			return
		}
		cfg := &app.Config{Backend: func(context.Context, *extensionsv1alpha1.Infrastructure, *extensionscontroller.Cluster, string) (infrastructure.Backend, error) {
			return metalBE, nil
		}, LeaderElectionNamespace: "default", Controllers: app.ControllerOptions{
			MaxConcurrentReconciles: 5, CCMImage: "metalkube:test", MCMImage: "metalkube:test",
			HealthCheckSyncPeriod: time.Minute, HeartbeatRenewInterval: 30 * time.Second,
		}}
		sw := app.ControllerSwitches(cfg)
		sw.Enabled = []string{app.ControllerInfrastructure, app.ControllerWorker, app.ControllerControlPlane, app.ControllerHeartbeat, app.ControllerOperatingSystemConfig}
		if startErr = sw.Complete(); startErr != nil {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		stopManager = func() { cancel(); <-done }
		if startErr = sw.Completed().AddToManager(ctx, mgr); startErr != nil {
			close(done)
			return
		}
		if startErr = mgr.Add(&fakeMCM{c: env.Client}); startErr != nil {
			close(done)
			return
		}
		go func() {
			defer close(done)
			if err := mgr.Start(ctx); err != nil {
				fmt.Fprintf(os.Stderr, "manager: %v\n", err)
			}
		}()
	})
	if startErr != nil {
		t.Fatalf("start extension manager: %v", startErr)
	}
	return metalBE
}

func raw(t testing.TB, obj any) *runtime.RawExtension {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &runtime.RawExtension{Raw: b}
}

func rawString(s string) *runtime.RawExtension { return &runtime.RawExtension{Raw: []byte(s)} }

const cloudProfileConfig = `{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"CloudProfileConfig",
"machineImages":[{"name":"gardenlinux","versions":[{"version":"1592.1.0","image":"ghcr.io/gardenlinux/gardenlinux:1592.1"},
  {"version":"1592.1.0","image":"ghcr.io/gardenlinux/gardenlinux:1592.1-arm64","architecture":"arm64"}]}],
"machineTypes":[{"name":"c1-large","size":"c1-large-x86","serverLabels":{"metal.ironcore.dev/cpu":"epyc"}}],
"regions":[{"name":"fra","namespace":"metal-fra","ipPools":[{"network":"internet","kind":"GlobalInClusterIPPool","name":"internet-v4"}],"zones":[{"name":"fra-1","partition":"fra-rack-1"},{"name":"fra-2","partition":"fra-rack-2"},{"name":"fra-3","partition":"fra-rack-3"}]}]}`

// newShoot creates the namespace, the Cluster resource and the
// cloudprovider Secret of a shoot and returns the namespace.
func newShoot(t testing.TB, name string, workers ...gardencorev1beta1.Worker) string {
	t.Helper()
	ctx := context.Background()
	name = fmt.Sprintf("%s-%d", name, shootSeq.Add(1))
	ns := "shoot--dev--" + name
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	shoot := &gardencorev1beta1.Shoot{
		TypeMeta:   metav1.TypeMeta{APIVersion: "core.gardener.cloud/v1beta1", Kind: "Shoot"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "garden-dev"},
		Spec: gardencorev1beta1.ShootSpec{
			Region:     "fra",
			Kubernetes: gardencorev1beta1.Kubernetes{Version: "1.36.4"},
			Networking: &gardencorev1beta1.Networking{Type: ptr.To("calico"), Nodes: ptr.To("10.250.0.0/16"),
				Pods: ptr.To("100.96.0.0/11"), Services: ptr.To("100.64.0.0/13")},
			Provider: gardencorev1beta1.Provider{Type: "metalkube", Workers: workers},
		},
		Status: gardencorev1beta1.ShootStatus{TechnicalID: ns},
	}
	cp := &gardencorev1beta1.CloudProfile{
		TypeMeta:   metav1.TypeMeta{APIVersion: "core.gardener.cloud/v1beta1", Kind: "CloudProfile"},
		ObjectMeta: metav1.ObjectMeta{Name: "metalkube"},
		Spec: gardencorev1beta1.CloudProfileSpec{
			Type:           "metalkube",
			ProviderConfig: rawString(cloudProfileConfig),
			MachineTypes:   []gardencorev1beta1.MachineType{{Name: "c1-large", CPU: resource.MustParse("32"), Memory: resource.MustParse("256Gi")}},
		},
	}
	seed := &gardencorev1beta1.Seed{TypeMeta: metav1.TypeMeta{APIVersion: "core.gardener.cloud/v1beta1", Kind: "Seed"}, ObjectMeta: metav1.ObjectMeta{Name: "seed"}}
	cluster := &extensionsv1alpha1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: ns},
		Spec:       extensionsv1alpha1.ClusterSpec{Shoot: *raw(t, shoot), CloudProfile: *raw(t, cp), Seed: raw(t, seed)},
	}
	if err := env.Client.Create(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: v1beta1constants.SecretNameCloudProvider, Namespace: ns},
		Data: map[string][]byte{"kubeconfig": []byte("apiVersion: v1\nkind: Config\n")}}
	if err := env.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	return ns
}

// waitSucceeded waits until obj's last operation is typ and succeeded
// (Reconcile also accepts Create, the first reconcile) and the operation
// annotation is gone, as gardenlet waits before it sets the next one.
func waitSucceeded(t testing.TB, obj extensionsv1alpha1.Object, typ gardencorev1beta1.LastOperationType, timeout time.Duration) {
	t.Helper()
	testkit.EventuallyWithin(t, timeout, fmt.Sprintf("%s %s succeeded", obj.GetName(), typ), func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		st := obj.GetExtensionStatus()
		lo := st.GetLastOperation()
		if lo == nil {
			return errors.New("no last operation yet")
		}
		typeOK := lo.Type == typ ||
			(typ == gardencorev1beta1.LastOperationTypeReconcile && lo.Type == gardencorev1beta1.LastOperationTypeCreate) ||
			// The restore annotation goes only after a successful restore,
			// so a later reconcile (queued by restore's own status updates)
			// proves the restore succeeded.
			(typ == gardencorev1beta1.LastOperationTypeRestore && lo.Type == gardencorev1beta1.LastOperationTypeReconcile)
		if !typeOK || lo.State != gardencorev1beta1.LastOperationStateSucceeded {
			le := ""
			if e := st.GetLastError(); e != nil {
				le = e.Description
			}
			return fmt.Errorf("last operation %s %s (%s) %s; annotations %v", lo.Type, lo.State, lo.Description, le, obj.GetAnnotations())
		}
		if op, ok := obj.GetAnnotations()[v1beta1constants.GardenerOperation]; ok {
			return fmt.Errorf("operation annotation %q not yet removed", op)
		}
		return nil
	})
}

// waitGone waits until obj is deleted.
func waitGone(t testing.TB, obj client.Object, timeout time.Duration) {
	t.Helper()
	testkit.EventuallyWithin(t, timeout, obj.GetName()+" gone", func() error {
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		if err == nil {
			return fmt.Errorf("%s still there (finalizers %v)", obj.GetName(), obj.GetFinalizers())
		}
		return client.IgnoreNotFound(err)
	})
}

func annotate(t testing.TB, obj client.Object, op string) {
	t.Helper()
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[v1beta1constants.GardenerOperation] = op
	obj.SetAnnotations(a)
	if err := env.Client.Patch(context.Background(), obj, patch); err != nil {
		t.Fatal(err)
	}
}

func opAnnotation(op string) map[string]string {
	return map[string]string{v1beta1constants.GardenerOperation: op}
}

func corev1SecretRef(ns string) corev1.SecretReference {
	return corev1.SecretReference{Name: v1beta1constants.SecretNameCloudProvider, Namespace: ns}
}

func workerPool(name string, zones ...string) gardencorev1beta1.Worker {
	return gardencorev1beta1.Worker{Name: name, Minimum: 1, Maximum: 3, Zones: zones,
		Machine: gardencorev1beta1.Machine{Type: "c1-large", Image: &gardencorev1beta1.ShootMachineImage{Name: "gardenlinux", Version: ptr.To("1592.1.0")}}}
}
