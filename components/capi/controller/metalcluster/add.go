package metalcluster

import (
	"context"

	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	infrav1 "github.com/metalkube/metalkube/components/capi/apis/infrastructure/v1alpha1"
	"github.com/metalkube/metalkube/components/capi/controller/capiutil"
)

// ControllerName names the controller (its logger and metrics).
const ControllerName = "metalcluster"

// AddToManager registers r with mgr: it reconciles MetalClusters, and the
// MetalCluster of a Cluster when the Cluster changes (pause, ownership).
func (r *Reconciler) AddToManager(mgr manager.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	return ctrl.NewControllerManagedBy(mgr).Named(ControllerName).
		For(&infrav1.MetalCluster{}).
		Watches(&clusterv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(clusterToMetalCluster), builder.WithPredicates(capiutil.ClusterChanged)).
		Complete(r)
}

// clusterToMetalCluster maps a Cluster to the MetalCluster it references.
func clusterToMetalCluster(_ context.Context, obj client.Object) []reconcile.Request {
	c, ok := obj.(*clusterv1.Cluster)
	if !ok {
		return nil
	}
	ref := c.Spec.InfrastructureRef
	if ref.APIGroup != infrav1.GroupVersion.Group || ref.Kind != "MetalCluster" || ref.Name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: c.Namespace, Name: ref.Name}}}
}
