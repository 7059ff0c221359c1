package announce

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// AddToManager registers the reconciler with mgr.
func (r *Reconciler) AddToManager(mgr manager.Manager) error {
	if r.Resync == 0 {
		r.Resync = time.Minute
	}
	if r.MinInterval == 0 {
		r.MinInterval = time.Second
	}
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: "announce"}}}
	})
	return ctrl.NewControllerManagedBy(mgr).Named(ControllerName).
		WatchesRawSource(sourceKick(mgr, one)).
		Watches(&corev1.Node{}, one, builder.WithPredicates(predicate.Or(predicate.LabelChangedPredicate{}, predicate.GenerationChangedPredicate{}))).
		Watches(&corev1.Service{}, one).
		WithOptions(controller.Options{MaxConcurrentReconciles: 1}).
		Complete(r)
}
