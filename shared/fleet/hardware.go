package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	metalv1alpha1 "github.com/ironcore-dev/metal-operator/api/v1alpha1"
	mockbmc "github.com/ironcore-dev/metal-operator/bmc/mock/server"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/metalkube/metalkube/shared/metal/ironcore"
	"github.com/metalkube/metalkube/shared/scheme"
	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit/netns"
)

// mockSystem is the path of the one system metal-operator's Redfish mock BMC
// serves.
const mockSystem = "/redfish/v1/Systems/437XR1138R2"

// Hardware is a fleet for the real metal-operator: the parts of a data
// centre it cannot run itself. Per server it runs metal-operator's own
// Redfish mock BMC (with a system UUID of its own) and registers it as a BMC
// object, from which metal-operator creates the Server; it labels the Server
// as an inventory would (size, zone, region); it runs metal-operator's probe
// agent while the server is in discovery and powered on; and it plays the
// boot operator: it marks ServerBootConfigurations Ready and boots a claimed,
// powered-on server from the Ignition its boot configuration references into
// a Node with kubelet heartbeats. Binding, power, phases and discovery are
// metal-operator's.
type Hardware struct {
	cfg      Config
	metal    client.Client
	nodes    client.Client
	mgr      manager.Manager
	registry string
	probe    string
	outage   Outage
	// netns is whether each server's probe runs in a network namespace of
	// its own, with the server's addresses (see startProbe).
	netns bool

	grow sync.Mutex // one add at a time registers BMCs

	mu      sync.Mutex
	ctx     context.Context // Start's
	sizes   []string        // by server index
	bmcs    []*bmc
	index   map[string]int                // server name -> index
	probes  map[string]context.CancelFunc // server -> its running probe agent
	spaces  map[string]*netns.NS          // server -> its network namespace
	kubelet *kubelets
	done    chan struct{}
}

// HardwareConfig configures Hardware.
type HardwareConfig struct {
	Config
	// RegistryURL is metal-operator's discovery registry.
	RegistryURL string
	// Probe is the path of metal-operator's probe agent binary.
	Probe string
}

// NewHardware returns the hardware for the metal-operator API at metalCfg,
// registering nodes through nodeCfg (which may be the same cluster).
func NewHardware(metalCfg, nodeCfg *rest.Config, cfg HardwareConfig) (*Hardware, error) {
	cfg.defaults()
	mc, nc, mgr, err := clients(metalCfg, nodeCfg, "fleet-hardware")
	if err != nil {
		return nil, err
	}
	h := &Hardware{cfg: cfg.Config, metal: mc, nodes: nc, mgr: mgr, registry: cfg.RegistryURL, probe: cfg.Probe,
		index: map[string]int{}, probes: map[string]context.CancelFunc{}, spaces: map[string]*netns.NS{}, done: make(chan struct{})}
	if h.netns, _ = netns.Available(); h.netns {
		removeStaleSpaces()
	}
	h.kubelet = newKubelets(nc, &h.cfg)
	skip := true
	opts := controller.Options{MaxConcurrentReconciles: 4, SkipNameValidation: &skip}
	if err := ctrl.NewControllerManagedBy(mgr).Named("fleet-bootconfig").For(&metalv1alpha1.ServerBootConfiguration{}).
		WithOptions(opts).Complete(reconcile.Func(h.reconcileBootConfig)); err != nil {
		return nil, err
	}
	if err := ctrl.NewControllerManagedBy(mgr).Named("fleet-server").For(&metalv1alpha1.Server{}).
		WithOptions(opts).Complete(reconcile.Func(h.reconcileServer)); err != nil {
		return nil, err
	}
	if err := mgr.Add(manager.RunnableFunc(h.kubelet.run)); err != nil {
		return nil, err
	}
	return h, nil
}

// ServerNameOnBMC is the name metal-operator gives the i-th server (its BMC's
// first system).
func (c *Config) ServerNameOnBMC(i int) string { return c.ServerName(i) + "-system-0" }

// Start runs the BMCs and the boot operator in the background, adds the
// configured servers (sizes round-robin) and waits until every one is
// Available (discovered by metal-operator with the probe's help), up to
// timeout.
func (h *Hardware) Start(ctx context.Context, timeout time.Duration) error {
	h.mu.Lock()
	h.ctx = ctx
	h.mu.Unlock()
	go func() {
		defer close(h.done)
		if err := h.mgr.Start(ctx); err != nil {
			ctrl.Log.WithName("fleet-hardware").Error(err, "stopped")
		}
		h.closeSpaces()
	}()
	sizes := make([]string, h.cfg.Servers)
	for i := range sizes {
		sizes[i] = h.cfg.Sizes[i%len(h.cfg.Sizes)]
	}
	_, err := h.add(ctx, sizes, timeout)
	return err
}

// Add adds n servers of size to a started fleet (their indexes follow the
// existing ones; the first is returned) and waits, up to timeout, until
// each is Available. Tests running in parallel may each add servers of a
// size of their own.
func (h *Hardware) Add(ctx context.Context, size string, n int, timeout time.Duration) (int, error) {
	sizes := make([]string, n)
	for i := range sizes {
		sizes[i] = size
	}
	return h.add(ctx, sizes, timeout)
}

func (h *Hardware) add(ctx context.Context, sizes []string, timeout time.Duration) (int, error) {
	h.grow.Lock()
	h.mu.Lock()
	from, bmcCtx := len(h.sizes), h.ctx
	h.sizes = append(h.sizes, sizes...)
	h.mu.Unlock()
	for i := from; i < from+len(sizes); i++ {
		if err := h.addBMC(bmcCtx, i); err != nil {
			h.grow.Unlock()
			return from, err
		}
	}
	h.grow.Unlock()
	deadline := time.Now().Add(timeout)
	for {
		ready, err := h.labelServers(ctx, from, from+len(sizes))
		if err != nil {
			return from, err
		}
		if ready == len(sizes) {
			return from, nil
		}
		if time.Now().After(deadline) {
			return from, fmt.Errorf("fleet: %d of %d servers Available after %s", ready, len(sizes), timeout)
		}
		select {
		case <-ctx.Done():
			return from, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Done is closed when the hardware has stopped.
func (h *Hardware) Done() <-chan struct{} { return h.done }

// bmc is one server's BMC: metal-operator's Redfish mock, reached through a
// proxy that can hold power actions back (slow power) and counts them.
type bmc struct {
	mock   *mockbmc.MockServer
	addr   string // the mock's own address
	delay  atomic.Int64
	held   atomic.Int64 // power actions being held back now
	resets atomic.Int64 // power actions passed on
}

// resetPath is where Redfish power actions are posted.
const resetPath = "/Actions/ComputerSystem.Reset"

// proxy passes requests on to the mock, power actions after the delay.
func (b *bmc) proxy() http.Handler {
	target := &url.URL{Scheme: "http", Host: b.addr}
	rp := httputil.NewSingleHostReverseProxy(target)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, resetPath) {
			if d := time.Duration(b.delay.Load()); d > 0 {
				b.held.Add(1)
				select {
				case <-time.After(d):
				case <-r.Context().Done():
				}
				b.held.Add(-1)
			}
			b.resets.Add(1)
		}
		rp.ServeHTTP(w, r)
	})
}

// addBMC starts the i-th server's mock BMC and its proxy and registers it.
func (h *Hardware) addBMC(ctx context.Context, i int) error {
	// Each BMC's system gets a UUID of its own: the mock serves one fixed system.
	b, err := startMockBMC(ctx, h.cfg.SystemUUID(i))
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: b.proxy(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	addr := l.Addr().(*net.TCPAddr)
	h.mu.Lock()
	h.bmcs = append(h.bmcs, b)
	h.index[h.cfg.ServerNameOnBMC(i)] = i
	h.mu.Unlock()
	name := h.cfg.ServerName(i)
	secret := &metalv1alpha1.BMCSecret{ObjectMeta: metav1.ObjectMeta{Name: name},
		Data: map[string][]byte{metalv1alpha1.BMCSecretUsernameKeyName: []byte("admin"), metalv1alpha1.BMCSecretPasswordKeyName: []byte("admin")}}
	if err := h.metal.Create(ctx, secret); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("create BMC secret %s: %w", name, err)
	}
	obj := &metalv1alpha1.BMC{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: metalv1alpha1.BMCSpec{
		Endpoint:     &metalv1alpha1.InlineEndpoint{IP: metalv1alpha1.MustParseIP(addr.IP.String()), MACAddress: fmt.Sprintf("02:bb:00:%02x:%02x:%02x", byte(i>>16), byte(i>>8), byte(i))},
		Protocol:     metalv1alpha1.Protocol{Name: metalv1alpha1.ProtocolRedfishLocal, Port: int32(addr.Port), Scheme: metalv1alpha1.HTTPProtocolScheme},
		BMCSecretRef: corev1.LocalObjectReference{Name: name},
	}}
	if err := h.metal.Create(ctx, obj); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("create BMC %s: %w", name, err)
	}
	return nil
}

// mockStartTimeout bounds how long a mock BMC may take to answer after its
// start, on a loaded machine.
const mockStartTimeout = 30 * time.Second

// startMockBMC starts one of metal-operator's Redfish mock BMCs on a free
// loopback port and sets its system's UUID, which also shows it is serving.
// The mock listens in a goroutine of its own and reports a failed listen
// only to its logger, so that logger hands errors back here: a port taken
// meanwhile by another program is retried on a new port, and any other
// failure is returned with the address.
func startMockBMC(ctx context.Context, uuid string) (*bmc, error) {
	var err error
	for range 3 {
		var mockAddr string
		if mockAddr, err = testenv.FreeAddr(); err != nil {
			return nil, err
		}
		errs := make(chan error, 1)
		b := &bmc{mock: mockbmc.NewMockServer(logr.New(errorSink{errs}), mockAddr), addr: mockAddr}
		go func() { _ = b.mock.Start(ctx) }()
		if err = setSystemUUID(ctx, mockAddr, uuid, errs); err == nil {
			return b, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
	}
	return nil, err
}

// setSystemUUID sets the UUID of the system of the mock BMC on addr, retrying
// while the mock starts, until its listen fails (errs) or mockStartTimeout.
func setSystemUUID(ctx context.Context, addr, uuid string, errs <-chan error) error {
	deadline := time.Now().Add(mockStartTimeout)
	for {
		err := patchMockSystem(ctx, addr, fmt.Sprintf(`{"UUID":%q}`, uuid))
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("set system UUID on mock BMC %s: %w (no answer within %s)", addr, err, mockStartTimeout)
		}
		select {
		case serveErr := <-errs:
			return fmt.Errorf("mock BMC on %s: %w", addr, serveErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// errorSink is a logr sink that passes the first error logged on to a
// channel and drops everything else.
type errorSink struct{ errs chan<- error }

func (errorSink) Init(logr.RuntimeInfo)            {}
func (errorSink) Enabled(int) bool                 { return false }
func (errorSink) Info(int, string, ...any)         {}
func (s errorSink) WithValues(...any) logr.LogSink { return s }
func (s errorSink) WithName(string) logr.LogSink   { return s }
func (s errorSink) Error(err error, msg string, _ ...any) {
	select {
	case s.errs <- fmt.Errorf("%s: %w", msg, err):
	default:
	}
}

// labelServers puts the inventory labels on the servers [from, to) that
// metal-operator has created and returns how many of them are Available.
func (h *Hardware) labelServers(ctx context.Context, from, to int) (int, error) {
	c := &h.cfg
	ready := 0
	for i := from; i < to; i++ {
		h.mu.Lock()
		size := h.sizes[i]
		h.mu.Unlock()
		srv := &metalv1alpha1.Server{}
		if err := h.metal.Get(ctx, client.ObjectKey{Name: c.ServerNameOnBMC(i)}, srv); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return 0, err
		}
		zone := c.Zones[i%len(c.Zones)]
		want := map[string]string{c.SizeLabel: size, c.PartitionLabel: zone, c.RegionLabel: c.Region}
		for k, v := range c.ExtraLabels {
			want[k] = v
		}
		patch := client.MergeFrom(srv.DeepCopy())
		changed := false
		if srv.Labels == nil {
			srv.Labels = map[string]string{}
		}
		for k, v := range want {
			if srv.Labels[k] != v {
				srv.Labels[k], changed = v, true
			}
		}
		if changed {
			if err := h.metal.Patch(ctx, srv, patch); err != nil && !apierrors.IsConflict(err) {
				return 0, fmt.Errorf("label server %s: %w", srv.Name, err)
			}
			continue
		}
		if srv.Status.State == metalv1alpha1.ServerStateAvailable {
			ready++
		}
	}
	return ready, nil
}

// reconcileBootConfig plays the boot operator: every boot configuration is
// Ready at once (there is no image to serve here).
func (h *Hardware) reconcileBootConfig(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	cfg := &metalv1alpha1.ServerBootConfiguration{}
	if err := h.metal.Get(ctx, req.NamespacedName, cfg); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if cfg.Status.State == metalv1alpha1.ServerBootConfigurationStateReady || cfg.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	patch := client.MergeFrom(cfg.DeepCopy())
	cfg.Status.State = metalv1alpha1.ServerBootConfigurationStateReady
	return reconcile.Result{}, h.metal.Status().Patch(ctx, cfg, patch)
}

// reconcileServer runs the probe agent while a server is discovered, and
// boots (or stops) a claimed server's node as its power goes.
func (h *Hardware) reconcileServer(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	srv := &metalv1alpha1.Server{}
	if err := h.metal.Get(ctx, req.NamespacedName, srv); err != nil {
		if apierrors.IsNotFound(err) {
			h.stopProbe(req.Name)
			h.kubelet.stop(req.Name)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	on := srv.Status.PowerState == metalv1alpha1.ServerOnPowerState
	if srv.Status.State == metalv1alpha1.ServerStateDiscovery && on {
		if err := h.startProbe(srv); err != nil {
			return reconcile.Result{}, err
		}
	} else {
		h.stopProbe(srv.Name)
	}
	if !on || srv.Status.State != metalv1alpha1.ServerStateReserved {
		h.kubelet.stop(srv.Name)
		if srv.Status.State != metalv1alpha1.ServerStateReserved {
			h.kubelet.forget(srv.Name)
		}
		return reconcile.Result{}, nil
	}
	if !h.cfg.RegisterNodes || srv.Spec.BootConfigurationRef == nil {
		return reconcile.Result{}, nil
	}
	return reconcile.Result{}, h.boot(ctx, srv)
}

// boot registers the node of a claimed server booted from its boot
// configuration's Ignition.
func (h *Hardware) boot(ctx context.Context, srv *metalv1alpha1.Server) error {
	if h.kubelet.running(srv.Name) {
		return nil
	}
	ref := srv.Spec.BootConfigurationRef
	cfg := &metalv1alpha1.ServerBootConfiguration{}
	if err := h.metal.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, cfg); err != nil {
		return client.IgnoreNotFound(err)
	}
	if cfg.Status.State != metalv1alpha1.ServerBootConfigurationStateReady {
		return nil
	}
	hostname := cfg.Name
	if sr := cfg.Spec.IgnitionSecretRef; sr != nil {
		secret := &corev1.Secret{}
		if err := h.metal.Get(ctx, client.ObjectKey{Namespace: cfg.Namespace, Name: sr.Name}, secret); err == nil {
			if name := Hostname(secret.Data[ironcore.IgnitionKey]); name != "" {
				hostname = name
			}
		} else if !apierrors.IsNotFound(err) {
			return err
		}
	}
	return h.kubelet.boot(ctx, srv, hostname)
}

// startProbe runs metal-operator's probe agent for a server in discovery.
// Where this process may create network namespaces, the agent runs in one of
// the server's own: its eth0 (a bridge without ports: not every kernel has
// the dummy module) carries the server's MAC and its addresses from
// NodeNetwork and NodeNetwork6, and the registry is forwarded to the same
// address on the namespace's loopback. So each server
// reports addresses of its own, as real machines do. Elsewhere the agent
// runs here and every server reports this machine's interfaces.
func (h *Hardware) startProbe(srv *metalv1alpha1.Server) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.probes[srv.Name]; ok || h.probe == "" || srv.Spec.SystemUUID == "" {
		return nil
	}
	args := []string{h.probe, "--registry-url=" + h.registry, "--server-uuid=" + srv.Spec.SystemUUID, "--duration=500ms"}
	if i, ok := h.index[srv.Name]; ok && h.netns {
		ns, err := h.space(srv.Name, i)
		if err != nil {
			return err
		}
		args = append([]string{"ip", "netns", "exec", ns.Name}, args...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.probes[srv.Name] = cancel
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	go func() { _ = cmd.Run() }()
	return nil
}

// space returns the i-th server's network namespace, creating it with the
// server's link and addresses and the registry forwarded into it. Called
// with h.mu held.
func (h *Hardware) space(server string, i int) (*netns.NS, error) {
	if ns, ok := h.spaces[server]; ok {
		return ns, nil
	}
	u, err := url.Parse(h.registry)
	if err != nil {
		return nil, fmt.Errorf("fleet: registry URL %q: %w", h.registry, err)
	}
	ns, err := netns.Create(fmt.Sprintf("%s%d-%s-%d", spacePrefix, os.Getpid(), h.cfg.Prefix, i))
	if err != nil {
		return nil, fmt.Errorf("fleet: network namespace of server %s: %w", server, err)
	}
	link := [][]string{
		{"link", "add", "eth0", "address", h.cfg.MAC(i), "type", "bridge"},
		{"addr", "add", NthAddr(h.cfg.NodeNetwork, i).String() + "/" + fmt.Sprint(h.cfg.NodeNetwork.Bits()), "dev", "eth0"},
	}
	if p := h.cfg.NodeNetwork6; p.IsValid() {
		link = append(link, []string{"addr", "add", NthAddr(p, i).String() + "/" + fmt.Sprint(p.Bits()), "dev", "eth0"})
	}
	link = append(link, []string{"link", "set", "eth0", "up"})
	for _, args := range link {
		if err := netns.IP(append([]string{"-n", ns.Name}, args...)...); err != nil {
			_ = ns.Close()
			return nil, fmt.Errorf("fleet: network namespace of server %s: %w", server, err)
		}
	}
	if err := ns.Forward(h.ctx, u.Host); err != nil {
		_ = ns.Close()
		return nil, fmt.Errorf("fleet: forward the registry into the namespace of server %s: %w", server, err)
	}
	h.spaces[server] = ns
	return ns, nil
}

// spacePrefix starts the name of every server's network namespace; the
// creating process's id follows.
const spacePrefix = "mkf-"

// removeStaleSpaces removes the servers' network namespaces that processes
// which no longer run left behind (killed before their fleet stopped).
func removeStaleSpaces() {
	entries, err := os.ReadDir("/var/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), spacePrefix)
		if !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		if _, err := strconv.Atoi(pid); err != nil {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); os.IsNotExist(err) {
			_ = netns.IP("netns", "del", e.Name())
		}
	}
}

// closeSpaces removes the servers' network namespaces.
func (h *Hardware) closeSpaces() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for server, ns := range h.spaces {
		_ = ns.Close()
		delete(h.spaces, server)
	}
}

func (h *Hardware) stopProbe(server string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cancel, ok := h.probes[server]; ok {
		cancel()
		delete(h.probes, server)
	}
}

// Index returns the index of the server named name, or -1.
func (h *Hardware) Index(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i, ok := h.index[name]; ok {
		return i
	}
	return -1
}

// WrapConfig returns a copy of cfg whose requests fail with 503 Service
// Unavailable while an outage is switched on (SetOutage).
func (h *Hardware) WrapConfig(cfg *rest.Config) *rest.Config { return h.outage.Wrap(cfg) }

// SetOutage switches the API outage seen through WrapConfig on or off.
func (h *Hardware) SetOutage(down bool) { h.outage.Set(down) }

// SetBMCDown makes the i-th server's BMC answer 503 (or answer again).
func (h *Hardware) SetBMCDown(i int, down bool) { h.bmc(i).mock.SetUnavailable(down) }

// SetPowerDelay makes the i-th server's BMC hold every power action back for
// d before carrying it out (slow power); 0 switches it off.
func (h *Hardware) SetPowerDelay(i int, d time.Duration) { h.bmc(i).delay.Store(int64(d)) }

// PowerActions returns how many power actions the i-th server's BMC has
// carried out and how many it is holding back now.
func (h *Hardware) PowerActions(i int) (done, held int) {
	b := h.bmc(i)
	return int(b.resets.Load()), int(b.held.Load())
}

// CutPower switches the i-th server off behind metal-operator's back (a power
// cut): its BMC reports it off, its node stops heart-beating, and what
// happens next is metal-operator's.
func (h *Hardware) CutPower(ctx context.Context, i int) error {
	h.kubelet.stop(h.cfg.ServerNameOnBMC(i))
	if err := patchMockSystem(ctx, h.bmc(i).addr, `{"PowerState":"Off"}`); err != nil {
		return fmt.Errorf("cut power of server %d: %w", i, err)
	}
	return nil
}

// patchMockSystem patches the system of the mock BMC on addr with the JSON
// body, directly (not through the proxy, which metal-operator uses).
func patchMockSystem(ctx context.Context, addr, body string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, "http://"+addr+mockSystem, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("BMC answered %s", resp.Status)
	}
	return nil
}

func (h *Hardware) bmc(i int) *bmc {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bmcs[i]
}

// LoseServer takes the i-th server out of the inventory: its BMC and Server
// are deleted, its node stops heart-beating.
func (h *Hardware) LoseServer(ctx context.Context, i int) error {
	name := h.cfg.ServerNameOnBMC(i)
	h.kubelet.stop(name)
	h.stopProbe(name)
	h.mu.Lock()
	if ns, ok := h.spaces[name]; ok {
		_ = ns.Close()
		delete(h.spaces, name)
	}
	h.mu.Unlock()
	if err := h.metal.Delete(ctx, &metalv1alpha1.BMC{ObjectMeta: metav1.ObjectMeta{Name: h.cfg.ServerName(i)}}); client.IgnoreNotFound(err) != nil {
		return err
	}
	return client.IgnoreNotFound(h.metal.Delete(ctx, &metalv1alpha1.Server{ObjectMeta: metav1.ObjectMeta{Name: name}}))
}

// Nodes returns the node names registered so far, by server.
func (h *Hardware) Nodes() map[string]string { return h.kubelet.nodes() }

// clients returns the uncached clients for the metal-operator API and the
// nodes' cluster, and a manager on the metal-operator API (no metrics, no
// probes) for the fleet's own controllers, logging as name.
func clients(metalCfg, nodeCfg *rest.Config, name string) (metal, nodes client.Client, mgr manager.Manager, err error) {
	s := scheme.New()
	if metal, err = client.New(metalCfg, client.Options{Scheme: s}); err != nil {
		return nil, nil, nil, err
	}
	if nodes, err = client.New(nodeCfg, client.Options{Scheme: s}); err != nil {
		return nil, nil, nil, err
	}
	mgr, err = manager.New(metalCfg, manager.Options{
		Scheme:                 s,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Logger:                 ctrl.Log.WithName(name),
	})
	return metal, nodes, mgr, err
}
