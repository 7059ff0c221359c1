package fleet

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	metalv1alpha1 "github.com/ironcore-dev/metal-operator/api/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/metalkube/metalkube/shared/scheme"
)

// ServerClaimFinalizer is the finalizer the emulator puts on claims, as
// metal-operator does.
const ServerClaimFinalizer = "metal.ironcore.dev/serverclaim"

// Emulator is a running fleet emulator.
type Emulator struct {
	cfg    Config
	metal  client.Client // uncached
	cached client.Client // the manager's, for listing candidates
	nodes  client.Client
	mgr    manager.Manager
	outage Outage

	mu      sync.Mutex
	booted  map[string]string // server -> node name
	stopped map[string]bool   // nodes whose kubelet is stopped
	done    chan struct{}
}

// New returns an emulator for the metal-operator API at metalCfg, registering
// nodes through nodeCfg (which may be the same cluster).
func New(metalCfg, nodeCfg *rest.Config, cfg Config) (*Emulator, error) {
	cfg.defaults()
	mc, nc, mgr, err := clients(metalCfg, nodeCfg, "fleet-emulator")
	if err != nil {
		return nil, err
	}
	e := &Emulator{done: make(chan struct{}), cfg: cfg, metal: mc, nodes: nc, mgr: mgr, booted: map[string]string{}, stopped: map[string]bool{}}
	e.cached = mgr.GetClient()
	if err := e.setup(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Emulator) setup() error {
	skipNameCheck := true
	// Claims bind concurrently: every Server update carries its resourceVersion,
	// so two workers racing for one server cannot both win.
	claimOpts := controller.Options{MaxConcurrentReconciles: 4, SkipNameValidation: &skipNameCheck}
	claimsOfServer := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		s := o.(*metalv1alpha1.Server)
		if ref := s.Spec.ServerClaimRef; ref != nil {
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}}}
		}
		return nil
	})
	if err := ctrl.NewControllerManagedBy(e.mgr).Named("fleet-serverclaim").For(&metalv1alpha1.ServerClaim{}).
		Watches(&metalv1alpha1.Server{}, claimsOfServer).WithOptions(claimOpts).
		Complete(reconcile.Func(e.reconcileClaim)); err != nil {
		return err
	}
	return e.mgr.Add(manager.RunnableFunc(e.kubelets))
}

// Run creates the servers and runs the emulator until ctx is done.
func (e *Emulator) Run(ctx context.Context) error {
	if err := e.CreateServers(ctx, 0, e.cfg.Servers); err != nil {
		return err
	}
	return e.mgr.Start(ctx)
}

// Start runs the emulator in the background and waits until its servers exist
// and its caches are synced. Errors after that are logged.
func (e *Emulator) Start(ctx context.Context) error {
	if err := e.CreateServers(ctx, 0, e.cfg.Servers); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		defer close(e.done)
		errc <- e.mgr.Start(ctx)
	}()
	sync, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !e.mgr.GetCache().WaitForCacheSync(sync) {
		select {
		case err := <-errc:
			return fmt.Errorf("fleet emulator: %w", err)
		default:
			return fmt.Errorf("fleet emulator: caches did not sync")
		}
	}
	return nil
}

// Done is closed when an emulator started with Start has stopped (its context
// is done and its controllers have returned). Stop the emulator before the
// API server it talks to.
func (e *Emulator) Done() <-chan struct{} { return e.done }

// CreateServers creates servers with indexes [from, to) and makes them Available.
func (e *Emulator) CreateServers(ctx context.Context, from, to int) error {
	for i := from; i < to; i++ {
		if err := e.createServer(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

func (e *Emulator) createServer(ctx context.Context, i int) error {
	c := &e.cfg
	size, zone := c.Sizes[i%len(c.Sizes)], c.Zones[i%len(c.Zones)]
	labels := map[string]string{c.SizeLabel: size, c.PartitionLabel: zone, c.RegionLabel: c.Region}
	for k, v := range c.ExtraLabels {
		labels[k] = v
	}
	srv := &metalv1alpha1.Server{
		ObjectMeta: metav1.ObjectMeta{Name: c.ServerName(i), Labels: labels},
		Spec:       metalv1alpha1.ServerSpec{SystemUUID: c.SystemUUID(i)},
	}
	if err := e.metal.Create(ctx, srv); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create server %s: %w", srv.Name, err)
		}
		return nil
	}
	nic := metalv1alpha1.NetworkInterface{Name: "eth0", MACAddress: c.MAC(i)}
	ip4 := metalv1alpha1.NewIP(NthAddr(c.NodeNetwork, i))
	nic.IP = &ip4
	nic.IPs = []metalv1alpha1.IP{ip4}
	if c.NodeNetwork6.IsValid() {
		nic.IPs = append(nic.IPs, metalv1alpha1.NewIP(NthAddr(c.NodeNetwork6, i)))
	}
	mem := ptrQuantity("256Gi")
	// Discovery as metal-operator walks it: Initial, then Discovery, then Available.
	for _, state := range []metalv1alpha1.ServerState{metalv1alpha1.ServerStateInitial, metalv1alpha1.ServerStateDiscovery, metalv1alpha1.ServerStateAvailable} {
		srv.Status.State = state
		srv.Status.PowerState = metalv1alpha1.ServerOffPowerState
		if state == metalv1alpha1.ServerStateAvailable {
			srv.Status.NetworkInterfaces = []metalv1alpha1.NetworkInterface{nic}
			srv.Status.Manufacturer, srv.Status.Model, srv.Status.SKU = "Emulated", "FE-"+size, size
			srv.Status.TotalSystemMemory = mem
		}
		if err := e.metal.Status().Update(ctx, srv); err != nil {
			return fmt.Errorf("server %s to %s: %w", srv.Name, state, err)
		}
	}
	return nil
}

// WrapConfig returns a copy of cfg whose requests fail with 503 Service
// Unavailable while an outage is switched on (SetOutage). Hand it to the
// backend under test.
func (e *Emulator) WrapConfig(cfg *rest.Config) *rest.Config { return e.outage.Wrap(cfg) }

// SetOutage switches the API outage seen through WrapConfig on or off.
func (e *Emulator) SetOutage(down bool) { e.outage.Set(down) }

// LoseServer deletes a server, as if it had vanished from the inventory.
func (e *Emulator) LoseServer(ctx context.Context, name string) error {
	e.stopKubelet(name)
	return client.IgnoreNotFound(e.metal.Delete(ctx, &metalv1alpha1.Server{ObjectMeta: metav1.ObjectMeta{Name: name}}))
}

// PowerOffServer powers a server off behind its claim's back (a power cut):
// its node stops heart-beating, and a claim that wants it on has it powered
// on and booted again, as metal-operator does.
func (e *Emulator) PowerOffServer(ctx context.Context, name string) error {
	srv := &metalv1alpha1.Server{}
	if err := e.metal.Get(ctx, client.ObjectKey{Name: name}, srv); err != nil {
		return err
	}
	e.stopKubelet(name)
	e.forget(name)
	srv.Status.PowerState = metalv1alpha1.ServerOffPowerState
	return e.metal.Status().Update(ctx, srv)
}

// Nodes returns the node names registered so far, by server.
func (e *Emulator) Nodes() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.booted)
}

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
