package podcidr

import (
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// AddToManager registers the controller.
func (r *Reconciler) AddToManager(mgr manager.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("pod-cidr").For(&corev1.Node{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).Complete(r)
}
