package service

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/metalkube/metalkube/components/lb/balancer"
)

// AddToManager registers the reconciler with mgr.
func (r *Reconciler) AddToManager(mgr manager.Manager) error {
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("metalkube-lb") //nolint:staticcheck // SA1019: core/v1 Events, as the upstream service controller writes them
	}
	if r.Workers == 0 {
		r.Workers = 32
	}
	return ctrl.NewControllerManagedBy(mgr).Named(ControllerName).For(&corev1.Service{}, builder.WithPredicates(relevant)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Workers}).
		Complete(r)
}

// relevant drops updates that cannot change a Service's IPs (status writes,
// the announcer's annotation), which would otherwise cost a backend query
// each.
var relevant = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	o, n := e.ObjectOld.(*corev1.Service), e.ObjectNew.(*corev1.Service)
	if o == nil || n == nil {
		return true
	}
	return o.Generation != n.Generation || n.DeletionTimestamp != nil ||
		o.Annotations[balancer.AnnotationIPs] != n.Annotations[balancer.AnnotationIPs] ||
		o.Annotations[balancer.AnnotationNetwork] != n.Annotations[balancer.AnnotationNetwork] ||
		!slices.Equal(o.Finalizers, n.Finalizers) ||
		!equality.Semantic.DeepEqual(o.Status.LoadBalancer, n.Status.LoadBalancer) && len(n.Status.LoadBalancer.Ingress) == 0
}}
