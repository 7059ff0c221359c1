package announce

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	lbannounce "github.com/metalkube/metalkube/components/lb/announce"
	"github.com/metalkube/metalkube/shared/metal"
)

// ControllerName names the controller (for --controllers and logs).
const ControllerName = "lb-announce"

// IPFinder is the backend call the reconciler makes.
type IPFinder interface {
	FindIPs(ctx context.Context, q metal.IPQuery) ([]metal.IP, error)
}

// Reconciler applies the rendered announcement configuration. Every event
// maps to one key, so bursts of Service and Node changes coalesce into one
// reconcile.
type Reconciler struct {
	Client client.Client
	IPs    IPFinder
	// Cluster owns the IPs in the backend.
	Cluster string
	Config  lbannounce.Config
	// ServiceTagPrefix marks the IPs of Services (balancer.TagServicePrefix).
	ServiceTagPrefix string
	// Resync is how often the backend is read again without an event.
	Resync time.Duration
	// MinInterval spaces reconciles: events within it are folded into one
	// later run, so a burst of Service changes costs one backend query.
	// Default 1s.
	MinInterval time.Duration

	mu      sync.Mutex
	lastRun time.Time
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	r.mu.Lock()
	wait := r.MinInterval - time.Since(r.lastRun)
	if wait <= 0 {
		r.lastRun = time.Now()
	}
	r.mu.Unlock()
	if wait > 0 {
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	ips, err := r.IPs.FindIPs(ctx, metal.IPQuery{Cluster: r.Cluster})
	if err != nil {
		// Keep what is announced: withdrawing routes because the backend is
		// unreachable would take every LoadBalancer offline.
		return reconcile.Result{}, fmt.Errorf("read load-balancer IPs: %w", err)
	}
	in := lbannounce.Input{Networks: map[string][]netip.Addr{}}
	for _, ip := range ips {
		if r.usedByService(ip) {
			in.Networks[ip.Network] = append(in.Networks[ip.Network], ip.Address)
		}
	}
	nodes := &corev1.NodeList{}
	if err := r.Client.List(ctx, nodes); err != nil {
		return reconcile.Result{}, err
	}
	in.Nodes = r.Config.NodesOf(nodes.Items)
	objs, err := r.Config.Render(in)
	if err != nil {
		return reconcile.Result{}, err
	}
	if err := r.apply(ctx, objs); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.annotateServices(ctx); err != nil {
		return reconcile.Result{}, err
	}
	log.V(1).Info("announcement configuration applied", "objects", len(objs), "nodes", len(in.Nodes))
	return reconcile.Result{RequeueAfter: r.Resync}, nil
}

func (r *Reconciler) usedByService(ip metal.IP) bool {
	for k := range ip.Tags {
		if strings.HasPrefix(k, r.ServiceTagPrefix) {
			return true
		}
	}
	return false
}

const fieldOwner = client.FieldOwner(lbannounce.ManagedBy)

// apply server-side-applies objs and deletes the managed objects of the
// mode's kinds that are not among them.
func (r *Reconciler) apply(ctx context.Context, objs []*unstructured.Unstructured) error {
	want := map[string]bool{}
	for _, o := range objs {
		if r.Config.Namespaced() {
			o.SetNamespace(r.Config.Namespace)
		}
		if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), fieldOwner, client.ForceOwnership); err != nil {
			return fmt.Errorf("apply %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		want[o.GetKind()+"/"+o.GetName()] = true
	}
	for _, gvk := range r.Config.Kinds() {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		opts := []client.ListOption{client.MatchingLabels{lbannounce.LabelManagedBy: lbannounce.ManagedBy}}
		if r.Config.Namespaced() {
			opts = append(opts, client.InNamespace(r.Config.Namespace))
		}
		if err := r.Client.List(ctx, list, opts...); err != nil {
			return fmt.Errorf("list %s: %w", gvk.Kind, err)
		}
		for i := range list.Items {
			o := &list.Items[i]
			if want[gvk.Kind+"/"+o.GetName()] {
				continue
			}
			if err := client.IgnoreNotFound(r.Client.Delete(ctx, o)); err != nil {
				return fmt.Errorf("delete stale %s %s: %w", gvk.Kind, o.GetName(), err)
			}
			ctrl.LoggerFrom(ctx).Info("deleted stale announcement object", "kind", gvk.Kind, "name", o.GetName())
		}
	}
	return nil
}

// annotateServices tells the announcer which address each LoadBalancer
// Service has (from its status, written by the balancer).
func (r *Reconciler) annotateServices(ctx context.Context) error {
	key := r.Config.ServiceAnnotation()
	if key == "" {
		return nil
	}
	svcs := &corev1.ServiceList{}
	if err := r.Client.List(ctx, svcs); err != nil {
		return err
	}
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		var ips []string
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				ips = append(ips, in.IP)
			}
		}
		slices.Sort(ips)
		val := strings.Join(ips, ",")
		if val == "" || svc.Annotations[key] == val {
			continue
		}
		patch := client.MergeFrom(svc.DeepCopy())
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		svc.Annotations[key] = val
		if err := r.Client.Patch(ctx, svc, patch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("annotate service %s/%s: %w", svc.Namespace, svc.Name, err)
		}
	}
	return nil
}
