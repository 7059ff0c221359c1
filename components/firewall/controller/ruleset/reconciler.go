package ruleset

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	metalstackv1 "github.com/metalkube/metalkube/components/firewall/apis/metalstack/v1"
	"github.com/metalkube/metalkube/components/firewall/compile"
)

// metalStackPrefix marks policies read from metal-stack.io/v1 objects.
const metalStackPrefix = "metal-stack.io/"

// +kubebuilder:rbac:groups=firewall.metalkube.io,resources=clusterwidenetworkpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=firewall.metalkube.io,resources=clusterwidenetworkpolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=metal-stack.io,resources=clusterwidenetworkpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=metal-stack.io,resources=clusterwidenetworkpolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=firewall.metalkube.io,resources=firewallstatuses,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=firewall.metalkube.io,resources=firewallstatuses/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch

// Reconciler syncs the whole ruleset on every request.
type Reconciler struct {
	Client  client.Client
	Options AddOptions
	Log     logr.Logger

	status     *statusWriter
	lastDrift  time.Time
	lastStatus time.Time // written by the status writer only
}

var _ reconcile.Reconciler = (*Reconciler)(nil)

// startSource enqueues one sync when the controller starts, so that the
// ruleset is applied even when there is nothing to watch yet.
func startSource(_ manager.Manager, ns string) source.Source {
	return source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		q.Add(syncRequest(ns))
		return nil
	})
}

// Reconcile compiles all policies and Services, repairs drift, applies the
// ruleset and hands the outcome to the status writer, which records it in
// the policies' and the FirewallStatus's status without holding up the next
// sync.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	start := time.Now()
	opts := r.Options
	in, objs, err := r.input(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	if opts.FQDN != nil {
		in.FQDN = opts.FQDN.Snapshot()
	}
	res := compile.Compile(opts.Config, in)

	// Drift is checked once per resync interval, not on every event: reading
	// the kernel's sets back costs as much as the change itself at 10,000
	// policies, and a change must not wait for it.
	drift, err := "", error(nil)
	if time.Since(r.lastDrift) >= opts.ResyncInterval {
		drift, err = opts.Applier.Drift()
		r.lastDrift = time.Now()
	}
	if err != nil {
		r.Log.Error(err, "checking the kernel ruleset for drift")
	} else if drift != "" {
		r.Log.Info("kernel ruleset drifted, replacing it", "drift", drift)
		opts.Applier.Invalidate()
		if opts.Collector != nil {
			opts.Collector.DriftRepairs.Inc()
		}
	}
	ar, applyErr := opts.Applier.Apply(res.Table)
	mode := "incremental"
	switch {
	case ar.Full:
		mode = "full"
	case ar.Messages == 0:
		mode = "noop"
	}
	if c := opts.Collector; c != nil {
		result := "success"
		if applyErr != nil {
			result = "error"
		}
		c.Applies.WithLabelValues(mode, result).Inc()
		c.ApplySeconds.WithLabelValues(mode).Observe(time.Since(start).Seconds())
	}
	if applyErr != nil {
		r.status.submit(&statusJob{objs: objs, res: res, applyErr: applyErr, changed: true})
		return reconcile.Result{}, applyErr
	}
	if opts.FQDN != nil {
		opts.FQDN.SetRules(res.FQDNRules)
	}
	if mode != "noop" {
		r.Log.Info("applied ruleset", "mode", mode, "messages", ar.Messages, "rules", len(res.Rules), "duration", time.Since(start))
	}
	if c := opts.Collector; c != nil {
		c.SetRuleset(res.Table.Name, res.Rules)
		deployed, ignored := 0, 0
		for _, p := range res.Policies {
			if p.Ignored {
				ignored++
			} else {
				deployed++
			}
		}
		c.Policies.WithLabelValues("deployed").Set(float64(deployed))
		c.Policies.WithLabelValues("ignored").Set(float64(ignored))
	}
	r.status.submit(&statusJob{objs: objs, res: res, changed: mode != "noop"})
	return reconcile.Result{RequeueAfter: opts.ResyncInterval}, nil
}

// input lists policies and Services. objs maps policy names to their objects.
func (r *Reconciler) input(ctx context.Context) (compile.Input, map[string]client.Object, error) {
	var in compile.Input
	objs := map[string]client.Object{}
	var list v1alpha1.ClusterwideNetworkPolicyList
	if err := r.Client.List(ctx, &list, client.InNamespace(r.Options.Namespace)); err != nil {
		return in, nil, fmt.Errorf("list policies: %w", err)
	}
	for i := range list.Items {
		p := &list.Items[i]
		name := p.Namespace + "/" + p.Name
		in.Policies = append(in.Policies, compile.Policy{Name: name, Spec: p.Spec})
		objs[name] = p
	}
	if r.Options.MetalStackPolicies {
		var ms metalstackv1.ClusterwideNetworkPolicyList
		if err := r.Client.List(ctx, &ms, client.InNamespace(r.Options.Namespace)); err != nil {
			return in, nil, fmt.Errorf("list metal-stack.io/v1 policies: %w", err)
		}
		for i := range ms.Items {
			p := &ms.Items[i]
			name := metalStackPrefix + p.Namespace + "/" + p.Name
			in.Policies = append(in.Policies, compile.Policy{Name: name, Spec: p.Spec, MetalStack: true})
			objs[name] = p
		}
	}
	var svcs corev1.ServiceList
	if err := r.Client.List(ctx, &svcs); err != nil {
		return in, nil, fmt.Errorf("list services: %w", err)
	}
	in.Services = svcs.Items
	return in, objs, nil
}

// statusInterval bounds how often counters alone update the FirewallStatus.
const statusInterval = 30 * time.Second

func (r *Reconciler) updateFirewallStatus(ctx context.Context, res *compile.Result, applyErr error, changed bool) {
	if r.Options.FirewallName == "" || (!changed && time.Since(r.lastStatus) < statusInterval) {
		return
	}
	fs := &v1alpha1.FirewallStatus{ObjectMeta: metav1.ObjectMeta{Namespace: r.Options.Namespace, Name: r.Options.FirewallName}}
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(fs), fs); apierrors.IsNotFound(err) {
		if err := r.Client.Create(ctx, fs); err != nil {
			r.Log.Error(err, "create firewall status")
			return
		}
	} else if err != nil {
		r.Log.Error(err, "read firewall status")
		return
	}
	st := v1alpha1.FirewallStatusStatus{AgentVersion: r.Options.AgentVersion, Rules: len(res.Rules), LastApplied: fs.Status.LastApplied}
	for _, p := range res.Policies {
		if p.Ignored {
			st.IgnoredPolicies++
		} else {
			st.DeployedPolicies++
		}
	}
	if applyErr != nil {
		st.Error = applyErr.Error()
	} else if changed || st.LastApplied == nil {
		now := metav1.Now()
		st.LastApplied = &now
	}
	if counters, err := r.Options.Applier.Counters(res.Table.Name); err == nil {
		st.Accepted = counters[compile.CounterEstablished].Packets
		for _, ri := range res.Rules {
			v := counters[ri.CounterKey()]
			st.Accepted += v.Packets
			st.RuleStats = append(st.RuleStats, v1alpha1.RuleStat{Name: ri.Counter, Packets: v.Packets, Bytes: v.Bytes})
		}
		for _, n := range []string{compile.CounterInvalid, compile.CounterDropped, compile.CounterDroppedIngress, compile.CounterDroppedEgress, compile.CounterRateLimited, compile.CounterNotAllowed} {
			st.Dropped += counters[n].Packets
		}
	}
	for _, dev := range append(append([]string(nil), r.Options.Config.ExternalInterfaces...), r.Options.Config.InternalInterfaces...) {
		if d, ok := deviceStat(dev); ok {
			st.Devices = append(st.Devices, d)
		}
	}
	now := metav1.Now()
	st.LastReported = &now
	fs.Status = st
	if err := r.Client.Status().Update(ctx, fs); err != nil {
		r.Log.Error(err, "update firewall status")
		return
	}
	r.lastStatus = time.Now()
}

// deviceStat reads an interface's counters from sysfs (the agent's network
// namespace).
func deviceStat(name string) (v1alpha1.DeviceStat, bool) {
	read := func(f string) uint64 {
		b, err := os.ReadFile(filepath.Join("/sys/class/net", name, "statistics", f))
		if err != nil {
			return 0
		}
		v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		return v
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", name)); err != nil {
		return v1alpha1.DeviceStat{}, false
	}
	return v1alpha1.DeviceStat{Name: name, RxBytes: read("rx_bytes"), TxBytes: read("tx_bytes"), RxPackets: read("rx_packets"),
		TxPackets: read("tx_packets"), RxDropped: read("rx_dropped"), TxDropped: read("tx_dropped")}, true
}
