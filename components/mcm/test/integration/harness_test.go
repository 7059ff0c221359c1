package integration

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metalkube/metalkube/shared/testkit/ports"

	mcmv1alpha1 "github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	mcmoptions "github.com/gardener/machine-controller-manager/pkg/util/provider/app/options"
	"github.com/go-logr/logr"
	metalv1alpha1 "github.com/ironcore-dev/metal-operator/api/v1alpha1"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ipamv1 "sigs.k8s.io/cluster-api/api/ipam/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/metalkube/metalkube/components/mcm/app"
	"github.com/metalkube/metalkube/shared/component"
	"github.com/metalkube/metalkube/shared/fleet"
	"github.com/metalkube/metalkube/shared/metal/ironcore"
	"github.com/metalkube/metalkube/shared/scheme"
	"github.com/metalkube/metalkube/shared/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard()) // the fleet's manager
	// Crash runs run side by side, each with its own provider; every one
	// registers machine-controller-manager's collector.
	prometheus.DefaultRegisterer = lastWins{prometheus.DefaultRegisterer}
	// The crash runs are parallel subtests; their time is mostly waiting.
	_ = flag.Set("test.parallel", "16")
	os.Exit(testenv.Main(m, testenv.Options{
		CRDs:   []testenv.CRDSet{testenv.MetalOperator, testenv.MachineControllerManager},
		IPAM:   true,
		Scheme: scheme.New(mcmv1alpha1.AddToScheme),
	}, &env))
}

// fleetSetup is one test's slice of the world: a namespace (Machines, claims
// and IP claims live there) and servers of a size of its own, all discovered
// and bound by the package's one real metal-operator.
type fleetSetup struct {
	ns, size string
	hw       *fleet.Hardware
	pool     testenv.IPPool
}

// sharedPool is the real in-cluster IPAM provider's pool every test claims from.
var sharedPool = testenv.IPPool{Name: "public", Prefix: netip.MustParsePrefix("203.0.112.0/23")}

// The package's tests run in parallel on one metal-operator and one fleet of
// hardware (a second metal-operator would act on the same claims); each test
// adds the servers it needs, of a size of its own.
var shared = struct {
	once   sync.Once
	hw     *fleet.Hardware
	err    error
	ctx    context.Context
	cancel context.CancelFunc
}{}

func init() { shared.ctx, shared.cancel = context.WithCancel(context.Background()) }

func hardware(t testing.TB) *fleet.Hardware {
	t.Helper()
	shared.once.Do(func() {
		// metal-operator and the hardware stop first: their watches hold the
		// API server's shutdown up.
		env.BeforeStop(shared.cancel)
		if shared.err = env.CreateIPPools(shared.ctx, sharedPool); shared.err != nil {
			return
		}
		if shared.err = env.Client.Create(shared.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "metal-operator-system"}}); shared.err != nil {
			return
		}
		mo, err := env.StartMetalOperator(shared.ctx, "metal-operator-system")
		if err != nil {
			shared.err = err
			return
		}
		probe, err := testenv.PeerBinary(testenv.PeerMetalProbe)
		if err != nil {
			shared.err = err
			return
		}
		hw, err := fleet.NewHardware(env.Config, env.Config, fleet.HardwareConfig{RegistryURL: mo.RegistryURL, Probe: probe,
			Config: fleet.Config{Prefix: "srv", RegisterNodes: true, Heartbeat: 30 * time.Second}})
		if err == nil {
			// It lives until TestMain stops it.
			err = hw.Start(shared.ctx, time.Minute)
		}
		shared.hw, shared.err = hw, err
	})
	if shared.err != nil {
		t.Fatalf("metal-operator and fleet: %v", shared.err)
	}
	return shared.hw
}

// newFleet creates the namespace name and n servers of size name, and waits
// until metal-operator has discovered them.
func newFleet(t testing.TB, name string, n int) *fleetSetup {
	t.Helper()
	hw := hardware(t)
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	if _, err := hw.Add(context.Background(), name, n, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	return &fleetSetup{ns: name, size: name, hw: hw, pool: sharedPool}
}

// createClass creates the MachineClass "class" and its Secret with Ignition
// user data.
func (f *fleetSetup) createClass(t testing.TB, withIP bool) {
	t.Helper()
	ctx := context.Background()
	spec := fmt.Sprintf(`{"apiVersion":"mcm.metalkube.io/v1alpha1","kind":"ProviderSpec","image":"flatcar","size":%q,"tags":{"test":%q}`, f.size, f.ns)
	if withIP {
		spec += `,"ipAddresses":[{"network":"internet"}]`
	}
	spec += "}"
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "class"},
		Data: map[string][]byte{"userData": []byte(`{"ignition":{"version":"3.5.0"}}`)}}
	class := &mcmv1alpha1.MachineClass{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "class"},
		ProviderSpec: runtime.RawExtension{Raw: []byte(spec)}, Provider: "metal",
		SecretRef: &corev1.SecretReference{Namespace: f.ns, Name: "class"}}
	for _, o := range []client.Object{secret, class} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
}

// process is one run of the provider, as if in its own OS process: kill makes
// every request it sends fail (and the one in flight lose its answer) and
// stops it, like SIGKILL.
type process struct {
	cancel   context.CancelFunc
	done     chan error
	dead     atomic.Bool
	calls    atomic.Int64 // backend requests sent
	refused  atomic.Int64 // backend requests answered 503
	byKind   sync.Map     // "GET serverclaims" -> *atomic.Int64
	killAt   int64        // kill when the backend request with this number was sent; 0: never
	killed   chan struct{}
	killOnce sync.Once
	// addr is the address of its health and metrics server.
	addr string
}

// probe answers GET http://addr/path: the status code and the body.
func (p *process) probe(path string) (int, string, error) {
	resp, err := http.Get("http://" + p.addr + path + "?verbose")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

var errKilled = errors.New("process killed")

type procTripper struct {
	rt      http.RoundTripper
	p       *process
	backend bool
}

func (t procTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.p.dead.Load() {
		return nil, errKilled
	}
	if !t.backend {
		return t.rt.RoundTrip(req)
	}
	n := t.p.calls.Add(1)
	c, _ := t.p.byKind.LoadOrStore(requestKind(req), new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
	resp, err := t.rt.RoundTrip(req)
	if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
		t.p.refused.Add(1)
	}
	if t.p.killAt > 0 && n >= t.p.killAt {
		// Killed after the request reached the backend, before its answer
		// was read: the hardest point for idempotency.
		t.p.kill()
		if resp != nil {
			_ = resp.Body.Close()
		}
		return nil, errKilled
	}
	return resp, err
}

func (p *process) kill() {
	p.killOnce.Do(func() {
		p.dead.Store(true)
		p.cancel()
		close(p.killed)
	})
}

func (p *process) wrap(cfg *rest.Config, backend bool) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Wrap(func(rt http.RoundTripper) http.RoundTripper { return procTripper{rt: rt, p: p, backend: backend} })
	return c
}

// stop stops the provider and waits for it.
func (p *process) stop(t testing.TB) {
	t.Helper()
	p.cancel()
	select {
	case err := <-p.done:
		if err != nil && !p.dead.Load() {
			t.Errorf("provider: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("provider did not stop")
	}
}

type providerOpts struct {
	killAt int64
	// outage wraps the backend's config with the fleet's outage switch.
	outage bool
}

// startProvider runs `metalkube mcm`'s app in-process for the fleet's
// namespace, with the backend on the real metal-operator.
func startProvider(t testing.TB, f *fleetSetup, po providerOpts) *process {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &process{cancel: cancel, done: make(chan error, 1), killAt: po.killAt, killed: make(chan struct{})}
	backendCfg := env.Config
	if po.outage {
		backendCfg = f.hw.WrapConfig(backendCfg)
	}
	s := mcmoptions.NewMCServer()
	s.Namespace = f.ns
	s.LeaderElection.LeaderElect = false
	s.Port = freePort(t)
	s.Address = "127.0.0.1"
	p.addr = net.JoinHostPort(s.Address, strconv.Itoa(int(s.Port)))
	s.KubeAPIQPS, s.KubeAPIBurst = 200, 400
	s.SafetyOptions.MachineCreationTimeout.Duration = 2 * time.Minute
	s.ResourceExhaustedRetry.Duration = 5 * time.Second
	s.SafetyOptions.MachineDrainTimeout.Duration = 30 * time.Second
	s.SafetyOptions.PvDetachTimeout.Duration = 5 * time.Second
	bc := p.wrap(backendCfg, true)
	bc.Timeout = 10 * time.Second
	c, err := client.New(bc, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	be, err := ironcore.New(ironcore.Config{Client: c, Namespace: f.ns, Pools: map[string][]ironcore.PoolRef{"internet": {f.pool.Ref()}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &app.Config{MCM: s, Control: p.wrap(env.Config, false), Target: p.wrap(env.Config, false), Metal: be,
		InitializeTimeout: 5 * time.Second, ReleaseTimeout: 5 * time.Second}
	logging := component.Logging{Format: component.LogFormatConsole, Level: "error"}
	if testing.Verbose() && os.Getenv("MCM_TEST_LOG") != "" {
		logging.Level = os.Getenv("MCM_TEST_LOG")
	}
	ctx, _, err = logging.Setup(ctx, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- app.Run(ctx, cfg) }()
	t.Cleanup(func() { p.cancel() })
	return p
}

func freePort(t testing.TB) int32 {
	t.Helper()
	p, err := ports.Free()
	if err != nil {
		t.Fatal(err)
	}
	return int32(p) //nolint:gosec // a port number fits
}

func newMachine(ns, name string) *mcmv1alpha1.Machine {
	return &mcmv1alpha1.Machine{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: mcmv1alpha1.MachineSpec{Class: mcmv1alpha1.ClassSpec{Kind: "MachineClass", Name: "class"}}}
}

// machinesRunning checks that the namespace has want Machines, all Running.
func machinesRunning(ns string, want int) func() error {
	return func() error {
		ms := &mcmv1alpha1.MachineList{}
		if err := env.Client.List(context.Background(), ms, client.InNamespace(ns)); err != nil {
			return err
		}
		running, sample := 0, ""
		for _, m := range ms.Items {
			if m.Status.CurrentStatus.Phase == mcmv1alpha1.MachineRunning {
				running++
			} else {
				sample = fmt.Sprintf("; %s is %q: %s", m.Name, m.Status.CurrentStatus.Phase, m.Status.LastOperation.Description)
			}
		}
		if len(ms.Items) != want || running != want {
			return fmt.Errorf("%d machines, %d running; want %d running%s", len(ms.Items), running, want, sample)
		}
		return nil
	}
}

// world is what the backend holds for a namespace.
type world struct {
	machines map[string]mcmv1alpha1.Machine
	claims   map[string]metalv1alpha1.ServerClaim
	servers  map[string]string // server -> claim, for servers claimed from the namespace
	strays   map[string]string // server -> claim bound to another server (see observe)
	ipClaims []ipamv1.IPAddressClaim
	secrets  map[string]bool // user-data secrets
}

func observe(t testing.TB, ns string) world {
	t.Helper()
	ctx := context.Background()
	w := world{machines: map[string]mcmv1alpha1.Machine{}, claims: map[string]metalv1alpha1.ServerClaim{}, servers: map[string]string{}, strays: map[string]string{}, secrets: map[string]bool{}}
	ms := &mcmv1alpha1.MachineList{}
	claims := &metalv1alpha1.ServerClaimList{}
	servers := &metalv1alpha1.ServerList{}
	ips := &ipamv1.IPAddressClaimList{}
	secrets := &corev1.SecretList{}
	// Servers first: a server's claim exists until the server is released,
	// so every claim a listed server names is in the later claim list.
	if err := env.Client.List(ctx, servers); err != nil {
		t.Fatal(err)
	}
	for _, l := range []client.ObjectList{claims, ms, ips, secrets} {
		if err := env.Client.List(ctx, l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range ms.Items {
		w.machines[m.Name] = m
	}
	for _, c := range claims.Items {
		w.claims[c.Name] = c
	}
	for _, s := range servers.Items {
		if ref := s.Spec.ServerClaimRef; ref != nil && ref.Namespace == ns {
			if c, ok := w.claims[ref.Name]; ok && c.Spec.ServerRef != nil && c.Spec.ServerRef.Name != s.Name {
				// metal-operator v0.7.0 reserved a second server for a claim
				// bound to another (its server list comes from a cache that
				// may not show its own earlier reservation yet); it frees
				// the server with the claim. Not the provider's doing.
				w.strays[s.Name] = ref.Name
				continue
			}
			w.servers[s.Name] = ref.Name
		}
	}
	w.ipClaims = ips.Items
	for _, s := range secrets.Items {
		if s.Type == "metal.metalkube.io/ignition" {
			w.secrets[s.Name] = true
		}
	}
	return w
}

func joined(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

// describeServers names each claimed server's claim, its state and the
// server the claim names (for failure messages).
func (w world) describeServers(t testing.TB) string {
	t.Helper()
	var out []string
	for srv, claim := range joined(w.servers, w.strays) {
		s := &metalv1alpha1.Server{}
		_ = env.Client.Get(context.Background(), client.ObjectKey{Name: srv}, s)
		ref := "claim gone"
		if c, ok := w.claims[claim]; ok {
			ref = fmt.Sprintf("claim names %v, phase %s, deleting %v", c.Spec.ServerRef, c.Status.Phase, c.DeletionTimestamp != nil)
		}
		out = append(out, fmt.Sprintf("%s -> %s [%s, power %s; %s]", srv, claim, s.Status.State, s.Status.PowerState, ref))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// checkOneServerPerMachine asserts the crash-consistency invariants: every
// claim belongs to a Machine, every Machine has at most one claim and one
// server, and no server is claimed by anything else from the namespace.
func checkOneServerPerMachine(t testing.TB, w world) {
	t.Helper()
	perClaim := map[string]int{}
	for srv, claim := range w.servers {
		if _, ok := w.claims[claim]; !ok {
			// metal-operator drops a claim's finalizer before it frees the
			// server; settled and checkEmpty catch a server left claimed.
			continue
		}
		perClaim[claim]++
		if perClaim[claim] > 1 {
			t.Errorf("claim %s holds two servers (one is %s)", claim, srv)
		}
	}
	for name := range w.claims {
		if _, ok := w.machines[name]; !ok {
			t.Errorf("orphaned claim %s: no Machine", name)
		}
	}
	for name := range w.secrets {
		if _, ok := w.machines[name]; !ok {
			t.Errorf("orphaned user-data secret %s: no Machine", name)
		}
	}
}

// checkEmpty asserts that nothing of the namespace is left in the backend.
func checkEmpty(t testing.TB, ns string) {
	t.Helper()
	w := observe(t, ns)
	if len(w.claims) != 0 || len(w.servers) != 0 || len(w.strays) != 0 || len(w.ipClaims) != 0 || len(w.secrets) != 0 {
		t.Errorf("left behind in %s: %d claims, %d claimed servers (+%d), %d IP claims, %d user-data secrets", ns, len(w.claims), len(w.servers), len(w.strays), len(w.ipClaims), len(w.secrets))
	}
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// lastWins is a Prometheus registerer on which a collector replaces one with
// the same descriptors instead of failing.
type lastWins struct{ prometheus.Registerer }

func (r lastWins) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (r lastWins) Register(c prometheus.Collector) error {
	r.Unregister(c)
	return r.Registerer.Register(c)
}

// requestKind is "VERB resource" of an API request: "LIST serverclaims".
func requestKind(req *http.Request) string {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	// /api/v1/namespaces/ns/secrets/name, /apis/group/version/namespaces/ns/res/name, /apis/group/version/res/name
	i := 2
	if parts[0] == "apis" {
		i = 3
	}
	if len(parts) > i && parts[i] == "namespaces" && len(parts) > i+2 {
		i += 2
	}
	if len(parts) <= i {
		return req.Method + " " + req.URL.Path
	}
	verb := req.Method
	if verb == http.MethodGet && len(parts) == i+1 {
		verb = "LIST"
	}
	return verb + " " + strings.Join(parts[i:min(len(parts), i+1)], "/")
}

// requestCounts returns the process's backend requests by kind, most first.
func (p *process) requestCounts() string {
	type kv struct {
		k string
		n int64
	}
	var all []kv
	p.byKind.Range(func(k, v any) bool {
		all = append(all, kv{k.(string), v.(*atomic.Int64).Load()})
		return true
	})
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n })
	var b strings.Builder
	for _, e := range all {
		fmt.Fprintf(&b, "%s=%d ", e.k, e.n)
	}
	return b.String()
}
