package nodelabels

import (
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// AddToManager registers the controller.
func (r *Reconciler) AddToManager(mgr manager.Manager) error {
	if r.Resync == 0 {
		r.Resync = time.Minute
	}
	return ctrl.NewControllerManagedBy(mgr).Named("node-labels").For(&corev1.Node{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).Complete(r)
}
