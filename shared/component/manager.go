package component

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Health check names every manager has.
const (
	HealthzPing     = "ping"
	ReadyzCacheSync = "cache-sync"
)

// inClusterNamespaceFile is where a pod finds its namespace, which leader
// election uses when no namespace is given.
const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Config is the completed runtime configuration of a component. Tests build
// it directly (with testenv's REST config) instead of parsing flags.
type Config struct {
	// Name names the component's logger.
	Name    string
	REST    *rest.Config
	Manager ManagerOptions
}

// ManagerOptions are the manager options c describes, with scheme s.
func (c *Config) ManagerOptions(s *runtime.Scheme) manager.Options {
	m := c.Manager
	mo := manager.Options{
		Scheme:                        s,
		LeaderElection:                m.LeaderElect,
		LeaderElectionID:              m.LeaderElectionID,
		LeaderElectionNamespace:       m.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Metrics:                       metricsserver.Options{BindAddress: m.MetricsBindAddress},
		HealthProbeBindAddress:        m.HealthProbeBindAddress,
		GracefulShutdownTimeout:       ptr(m.GracefulShutdownTimeout),
	}
	if m.LeaseDuration > 0 {
		mo.LeaseDuration, mo.RenewDeadline, mo.RetryPeriod = ptr(m.LeaseDuration), ptr(m.RenewDeadline), ptr(m.RetryPeriod)
	}
	return mo
}

// NewManager builds the component's manager with scheme s, changed by the
// given functions (a webhook server, cache options), with the logger of ctx.
// It answers /healthz while the process runs and /readyz once the caches
// have synced; add more checks with AddReadyzCheck.
func (c *Config) NewManager(ctx context.Context, s *runtime.Scheme, mutate ...func(*manager.Options)) (manager.Manager, error) {
	log := Logger(ctx, c.Name)
	mo := c.ManagerOptions(s)
	mo.Logger = log
	// Drop what no component reads before objects enter the cache.
	mo.Cache = CacheOptions()
	for _, m := range mutate {
		m(&mo)
	}
	if mo.LeaderElection && mo.LeaderElectionNamespace == "" {
		// controller-runtime would ask to "specify LeaderElectionNamespace",
		// a Go field name: name the flag instead.
		if _, err := os.Stat(inClusterNamespaceFile); err != nil {
			return nil, fmt.Errorf("%s: leader election needs a namespace for its lease outside a pod: set --%s (or --%s=false)", c.Name, FlagLeaderElectionNamespace, FlagLeaderElect)
		}
	}
	log.V(1).Info("Creating manager", "host", c.REST.Host, "leaderElection", mo.LeaderElection, "leaderElectionID", mo.LeaderElectionID,
		"leaderElectionNamespace", mo.LeaderElectionNamespace, "metrics", mo.Metrics.BindAddress, "probes", mo.HealthProbeBindAddress)
	mgr, err := manager.New(c.REST, mo)
	if err != nil {
		return nil, fmt.Errorf("%s: create manager: %w", c.Name, err)
	}
	if err := mgr.AddHealthzCheck(HealthzPing, healthz.Ping); err != nil {
		return nil, fmt.Errorf("%s: add health check: %w", c.Name, err)
	}
	if err := mgr.AddReadyzCheck(ReadyzCacheSync, CacheSynced(mgr)); err != nil {
		return nil, fmt.Errorf("%s: add readiness check: %w", c.Name, err)
	}
	return mgr, nil
}

// CacheSynced is a readiness check that passes once mgr's caches have synced.
func CacheSynced(mgr manager.Manager) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return fmt.Errorf("caches not synced")
		}
		return nil
	}
}

// Start runs mgr until ctx ends; a leader that stops releases its lease.
// An API server that does not answer at start is said loudly, once, with
// what happens next: the controllers retry (and log each failed attempt)
// until it answers, and readiness fails until then.
func Start(ctx context.Context, mgr manager.Manager) error {
	SayIfAPIServerUnreachable(ctx, mgr.GetLogger(), mgr.GetConfig())
	mgr.GetLogger().Info("Starting")
	if err := mgr.Start(ctx); err != nil {
		return err
	}
	mgr.GetLogger().Info("Stopped")
	return nil
}

// SayIfAPIServerUnreachable logs loudly, once, when the API server at cfg
// does not answer as a component starts: it names the host and that the
// component keeps retrying (its readiness failing) instead of exiting.
func SayIfAPIServerUnreachable(ctx context.Context, log logr.Logger, cfg *rest.Config) {
	if err := apiServerAnswers(ctx, cfg); err != nil {
		log.Error(err, "Kubernetes API server unreachable at start: retrying until it answers; /readyz fails until then", "host", cfg.Host)
	}
}

// apiServerAnswers asks the API server at cfg for its version.
func apiServerAnswers(ctx context.Context, cfg *rest.Config) error {
	c := rest.CopyConfig(cfg)
	c.Timeout = apiServerCheckTimeout
	dc, err := discovery.NewDiscoveryClientForConfig(c)
	if err != nil {
		return err
	}
	return dc.RESTClient().Get().AbsPath("/version").Do(ctx).Error()
}

// apiServerCheckTimeout bounds the check at start; the controllers' own
// retries do not depend on it.
const apiServerCheckTimeout = 5 * time.Second

func ptr[T any](v T) *T { return &v }

// SecretsUncached is a manager option for components that read few of a
// cluster's Secrets: the client reads Secrets from the API server and never
// through the cache, so no informer lists or watches every Secret of the
// cluster and none is held in memory.
func SecretsUncached(o *manager.Options) {
	if o.Client.Cache == nil {
		o.Client.Cache = &client.CacheOptions{}
	}
	o.Client.Cache.DisableFor = append(o.Client.Cache.DisableFor, &corev1.Secret{})
}
