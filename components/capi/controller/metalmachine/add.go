package metalmachine

import (
	"context"

	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	infrav1 "github.com/metalkube/metalkube/components/capi/apis/infrastructure/v1alpha1"
	"github.com/metalkube/metalkube/components/capi/controller/capiutil"
)

// ControllerName names the controller (its logger and metrics).
const ControllerName = "metalmachine"

// AddOptions configure the controller.
type AddOptions struct {
	// Workers is the number of MetalMachines reconciled at once; default 10.
	Workers int
}

// AddToManager registers r with mgr: it reconciles MetalMachines, and the
// MetalMachine of a Machine when the Machine changes (bootstrap data,
// failure domain: its spec, so only generation changes; Cluster API writes
// a waiting Machine's status often, and each would cost a backend call) and
// those of a Cluster when it is paused or resumed or its infrastructure
// becomes provisioned.
func (r *Reconciler) AddToManager(mgr manager.Manager, opts AddOptions) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if opts.Workers == 0 {
		opts.Workers = 10
	}
	return ctrl.NewControllerManagedBy(mgr).Named(ControllerName).
		For(&infrav1.MetalMachine{}).
		Watches(&clusterv1.Machine{}, handler.EnqueueRequestsFromMapFunc(machineToMetalMachine), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&clusterv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(r.clusterToMetalMachines), builder.WithPredicates(capiutil.ClusterChanged)).
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.Workers}).
		Complete(r)
}

// machineToMetalMachine maps a Machine to the MetalMachine it references.
func machineToMetalMachine(_ context.Context, obj client.Object) []reconcile.Request {
	m, ok := obj.(*clusterv1.Machine)
	if !ok {
		return nil
	}
	ref := m.Spec.InfrastructureRef
	if ref.APIGroup != infrav1.GroupVersion.Group || ref.Kind != "MetalMachine" || ref.Name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: m.Namespace, Name: ref.Name}}}
}

// clusterToMetalMachines maps a Cluster to its MetalMachines.
func (r *Reconciler) clusterToMetalMachines(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &infrav1.MetalMachineList{}
	if err := r.Client.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingLabels{clusterv1.ClusterNameLabel: obj.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, mm := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&mm)})
	}
	return reqs
}
