package ruleset

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	metalstackv1 "github.com/metalkube/metalkube/components/firewall/apis/metalstack/v1"
	"github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/metrics"
	"github.com/metalkube/metalkube/components/firewall/nft"
)

// Applier writes rulesets to the kernel; *nft.Applier is the real one.
type Applier interface {
	Apply(*nft.Table) (nft.ApplyResult, error)
	Drift() (string, error)
	Invalidate()
	Counters(table string) (map[string]nft.CounterValue, error)
}

var _ Applier = (*nft.Applier)(nil)

// AddOptions configure the reconciler.
type AddOptions struct {
	// Config is the firewall host's side of the ruleset.
	Config compile.Config
	// Namespace holds the policies (default v1alpha1.DefaultNamespace).
	Namespace string
	// MetalStackPolicies also reads metal-stack.io/v1 ClusterwideNetworkPolicies.
	MetalStackPolicies bool
	// FirewallName names the FirewallStatus object; empty: no status object.
	FirewallName string
	// ResyncInterval is how often the kernel is checked for drift.
	ResyncInterval time.Duration
	// AgentVersion is reported in the FirewallStatus.
	AgentVersion string
	// Applier writes the ruleset.
	Applier Applier
	// Collector, if set, is told about each applied ruleset.
	Collector *metrics.Collector
	// FQDN, if set, is the DNS proxy: its resolved addresses go into each
	// compile, and it learns the FQDN rules of each applied ruleset.
	// Config.FQDN must be true with it.
	FQDN FQDNProxy
}

// FQDNProxy is the DNS proxy's side the reconciler uses; *fqdn.Proxy is one.
type FQDNProxy interface {
	Snapshot() map[string][]compile.FQDNEntry
	SetRules([]compile.FQDNRule)
}

// AddToScheme adds the types the agent reads to a scheme.
func AddToScheme(s *runtime.Scheme) error {
	for _, f := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme, metalstackv1.AddToScheme} {
		if err := f(s); err != nil {
			return err
		}
	}
	return nil
}

// NewScheme returns a scheme with the types the agent reads.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(AddToScheme(s))
	return s
}

// ManagerOptions adapts manager options to the agent: policies are cached in
// their namespace only, and leader election is off (see the package doc).
func ManagerOptions(opts AddOptions) func(*manager.Options) {
	return func(o *manager.Options) {
		ns := opts.Namespace
		if ns == "" {
			ns = v1alpha1.DefaultNamespace
		}
		by := map[client.Object]cache.ByObject{
			&v1alpha1.ClusterwideNetworkPolicy{}: {Namespaces: map[string]cache.Config{ns: {}}},
			&v1alpha1.FirewallStatus{}:           {Namespaces: map[string]cache.Config{ns: {}}},
		}
		if opts.MetalStackPolicies {
			by[&metalstackv1.ClusterwideNetworkPolicy{}] = cache.ByObject{Namespaces: map[string]cache.Config{ns: {}}}
		}
		o.Cache.ByObject = by
		o.LeaderElection = false
	}
}

// syncRequest is the one request every event maps to.
func syncRequest(ns string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "ruleset"}}
}

// AddToManager adds the reconciler to mgr.
func AddToManager(ctx context.Context, mgr manager.Manager, opts AddOptions) error {
	if opts.Applier == nil {
		return fmt.Errorf("firewall controller: no applier")
	}
	if opts.Namespace == "" {
		opts.Namespace = v1alpha1.DefaultNamespace
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = 10 * time.Second
	}
	r := &Reconciler{Client: mgr.GetClient(), Options: opts, Log: logr.FromContextOrDiscard(ctx).WithName("firewall")}
	r.status = newStatusWriter(r)
	if err := mgr.Add(r.status); err != nil {
		return fmt.Errorf("firewall controller: add status writer: %w", err)
	}
	all := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{syncRequest(opts.Namespace)}
	})
	inNamespace := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetNamespace() == opts.Namespace })
	b := builder.ControllerManagedBy(mgr).
		Named("firewall").
		WatchesRawSource(startSource(mgr, opts.Namespace)).
		Watches(&v1alpha1.ClusterwideNetworkPolicy{}, all, builder.WithPredicates(inNamespace, predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Service{}, all)
	if opts.MetalStackPolicies {
		b = b.Watches(&metalstackv1.ClusterwideNetworkPolicy{}, all, builder.WithPredicates(inNamespace, predicate.GenerationChangedPredicate{}))
	}
	return b.Complete(r)
}
