package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gardener/machine-controller-manager/pkg/apis/constants"
	machinescheme "github.com/gardener/machine-controller-manager/pkg/client/clientset/versioned/scheme"
	coreclientbuilder "github.com/gardener/machine-controller-manager/pkg/util/clientbuilder/core"
	machineclientbuilder "github.com/gardener/machine-controller-manager/pkg/util/clientbuilder/machine"
	mcmapp "github.com/gardener/machine-controller-manager/pkg/util/provider/app"
	mcmdriver "github.com/gardener/machine-controller-manager/pkg/util/provider/driver"
	"github.com/gardener/machine-controller-manager/pkg/util/provider/metrics"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/healthz"

	"github.com/metalkube/metalkube/components/mcm/driver"
	"github.com/metalkube/metalkube/shared/component"
)

// LeaseName is the leader election lease, the one upstream providers use, so
// that metalkube's provider and the one it replaces never run at once.
const LeaseName = "machine-controller"

// Name is the component's name: its command and logger.
const Name = "mcm"

// HealthzLeaderElection names the liveness check that fails when the leader
// has not renewed its lease for leaderHealthTimeout past its duration.
const HealthzLeaderElection = "leader-election"

// leaderHealthTimeout is how long past the lease duration a leader that
// could not renew still counts as alive (the kubelet's restart is the cure).
const leaderHealthTimeout = 20 * time.Second

// Run runs the provider controller until ctx is done. It returns nil then, or
// the error that stopped it.
func Run(ctx context.Context, cfg *Config) error {
	log := component.Logger(ctx, Name)
	control, target := cfg.Control, cfg.Target
	if control == nil {
		control = target
	}
	if control == nil {
		return errors.New("no control cluster: set --control-kubeconfig")
	}
	drv, err := driver.New(driver.Config{Backend: cfg.Metal, InitializeTimeout: cfg.InitializeTimeout, DeleteTimeout: cfg.ReleaseTimeout,
		CSIDrivers: cfg.CSIDrivers, Log: log.WithName("driver")})
	if err != nil {
		return err
	}
	o := cfg
	log.V(1).Info("Driver configuration", "initializeTimeout", cfg.InitializeTimeout, "releaseTimeout", cfg.ReleaseTimeout, "csiDrivers", cfg.CSIDrivers)
	log.Info("Starting machine-controller-manager provider", "backend", cfg.Metal.Backend(), "namespace", o.MCM.Namespace, "targetCluster", target != nil)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A leader that stops renewing its lease fails /healthz, so that the
	// kubelet restarts it instead of leaving two leaders.
	watchdog := leaderelection.NewLeaderHealthzAdaptor(leaderHealthTimeout)
	srv := o.serveHTTP(ctx, log, watchdog)

	runErr := make(chan error, 1)
	run := func(ctx context.Context) { runErr <- runControllers(ctx, o, control, target, drv) }
	if !o.MCM.LeaderElection.LeaderElect {
		run(ctx)
	} else if err := o.leaderElect(ctx, control, watchdog, run); err != nil {
		return err
	}
	_ = srv.Shutdown(context.WithoutCancel(ctx))
	select {
	case err := <-runErr:
		return err
	default:
		if ctx.Err() == nil {
			return errors.New("lost leadership")
		}
		return nil
	}
}

// restConfigs builds the control and target cluster configs as upstream does:
// the target from --target-kubeconfig unless it is "none", the control from
// --control-kubeconfig ("inClusterConfig" for in-cluster) or else the target.
func (o *Options) restConfigs() (control, target *rest.Config, err error) {
	s := o.MCM
	switch {
	case s.TargetKubeconfig != constants.TargetKubeconfigDisabledValue:
		if target, err = clientcmd.BuildConfigFromFlags("", s.TargetKubeconfig); err != nil {
			return nil, nil, fmt.Errorf("--target-kubeconfig=%q: %w", s.TargetKubeconfig, err)
		}
	}
	switch {
	case s.ControlKubeconfig == "inClusterConfig":
		if control, err = clientcmd.BuildConfigFromFlags("", ""); err != nil {
			return nil, nil, fmt.Errorf("--control-kubeconfig=inClusterConfig: %w", err)
		}
	case s.ControlKubeconfig != "":
		if control, err = clientcmd.BuildConfigFromFlags("", s.ControlKubeconfig); err != nil {
			return nil, nil, fmt.Errorf("--control-kubeconfig=%q: %w", s.ControlKubeconfig, err)
		}
	case target != nil:
		control = rest.CopyConfig(target)
	default:
		return nil, nil, errors.New("no control cluster: set --control-kubeconfig")
	}
	for _, c := range []*rest.Config{control, target} {
		if c != nil {
			c.QPS, c.Burst = s.KubeAPIQPS, int(s.KubeAPIBurst)
		}
	}
	return control, target, nil
}

// runControllers runs upstream's StartControllers until ctx is done.
// StartControllers never returns once the controllers run; they stop with
// ctx, and the goroutine that called it stays parked.
func runControllers(ctx context.Context, o *Config, control, target *rest.Config, drv mcmdriver.Driver) error {
	kube, err := kubernetes.NewForConfig(rest.AddUserAgent(control, "machine-controller"))
	if err != nil {
		return err
	}
	recorder, stopEvents := newRecorder(kube, o.MCM.Namespace)
	defer stopEvents()
	// The machine controller registers itself as a Prometheus collector when it
	// starts; a controller that ran before in this process (a lost and regained
	// lease, a test) would make that registration panic.
	prometheus.Unregister(machineCollector{})

	var targetBuilder coreclientbuilder.ClientBuilder
	if target != nil {
		targetBuilder = coreclientbuilder.SimpleControllerClientBuilder{ClientConfig: target}
	}
	errc := make(chan error, 1)
	go func() {
		errc <- mcmapp.StartControllers(o.MCM, control, target,
			machineclientbuilder.SimpleClientBuilder{ClientConfig: control},
			coreclientbuilder.SimpleControllerClientBuilder{ClientConfig: control},
			targetBuilder, drv, recorder, ctx.Done())
	}()
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return fmt.Errorf("machine controller: %w", err)
	}
}

// machineCollector has the descriptors of the machine controller's collector,
// so that Unregister finds it.
type machineCollector struct{}

func (machineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- metrics.MachineCountDesc
	ch <- metrics.MachineCSPhase
}

func (machineCollector) Collect(chan<- prometheus.Metric) {}

func newRecorder(kube kubernetes.Interface, namespace string) (record.EventRecorder, func()) {
	s := runtime.NewScheme()
	utilruntime.Must(machinescheme.AddToScheme(s))
	utilruntime.Must(corev1.AddToScheme(s))
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events(namespace)})
	return b.NewRecorder(s, corev1.EventSource{Component: "machine-controller"}), b.Shutdown
}

func (o *Config) leaderElect(ctx context.Context, control *rest.Config, watchdog *leaderelection.HealthzAdaptor, run func(context.Context)) error {
	kube, err := kubernetes.NewForConfig(rest.AddUserAgent(control, "machine-leader-election"))
	if err != nil {
		return err
	}
	id, err := os.Hostname()
	if err != nil {
		return err
	}
	le := o.MCM.LeaderElection
	lock, err := resourcelock.New(le.ResourceLock, o.MCM.Namespace, LeaseName, kube.CoreV1(), kube.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: id + "_" + strconv.Itoa(os.Getpid())})
	if err != nil {
		return fmt.Errorf("leader election lock: %w", err)
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: le.LeaseDuration.Duration, RenewDeadline: le.RenewDeadline.Duration, RetryPeriod: le.RetryPeriod.Duration,
		ReleaseOnCancel: true,
		WatchDog:        watchdog,
		Callbacks:       leaderelection.LeaderCallbacks{OnStartedLeading: run, OnStoppedLeading: func() {}},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	elector.Run(ctx)
	return nil
}

// serveHTTP serves /metrics, /healthz (the process runs; a leader still
// holds its lease) and /readyz (the backend answers) on --address:--port
// until ctx is done.
func (o *Config) serveHTTP(ctx context.Context, log logr.Logger, watchdog *leaderelection.HealthzAdaptor) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	for path, checks := range map[string]map[string]healthz.Checker{
		"/healthz": {component.HealthzPing: healthz.Ping, HealthzLeaderElection: watchdog.Check},
		"/readyz":  {component.ReadyzBackend: component.BackendReady(o.Metal)},
	} {
		// /readyz answers for all checks, /readyz/backend for one.
		h := http.StripPrefix(path, &healthz.Handler{Checks: checks})
		mux.Handle(path, h)
		mux.Handle(path+"/", h)
	}
	srv := &http.Server{Addr: net.JoinHostPort(o.MCM.Address, strconv.Itoa(int(o.MCM.Port))), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "health and metrics server", "address", srv.Addr)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return srv
}
