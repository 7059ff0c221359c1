package capiutil

import (
	"context"
	"fmt"
	"maps"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	infrav1 "github.com/metalkube/metalkube/components/capi/apis/infrastructure/v1alpha1"
)

// BackendCluster is the cluster name a Cluster API Cluster has in the
// bare-metal backend: "<namespace>.<name>". Namespaces have no dots, so the
// name is unambiguous, and it survives `clusterctl move` (which keeps
// namespaces and names; UIDs change). It must be a label value (63
// characters at most): the error says which Cluster is too long.
func BackendCluster(namespace, name string) (string, error) {
	s := namespace + "." + name
	if errs := validation.IsValidLabelValue(s); len(errs) > 0 {
		return "", fmt.Errorf("cluster %s/%s: backend cluster name %q: %v", namespace, name, s, errs)
	}
	return s, nil
}

// BackendName is the name an object has in the backend: "<namespace>.<name>",
// unique across namespaces and stable across `clusterctl move`.
func BackendName(obj client.Object) string { return obj.GetNamespace() + "." + obj.GetName() }

// IsPaused reports whether reconciliation of obj stops: its Cluster is paused
// or obj carries Cluster API's paused annotation.
func IsPaused(cluster *clusterv1.Cluster, obj client.Object) bool {
	if cluster != nil && cluster.Spec.Paused != nil && *cluster.Spec.Paused {
		return true
	}
	_, ok := obj.GetAnnotations()[clusterv1.PausedAnnotation]
	return ok
}

// SetCondition sets a condition on conds with obj's generation.
func SetCondition(conds *[]metav1.Condition, generation int64, typ string, ok bool, reason, msg string) bool {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	return meta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: generation})
}

// SetPaused sets the Paused condition the v1beta2 contract asks for.
func SetPaused(conds *[]metav1.Condition, generation int64, paused bool) {
	if paused {
		SetCondition(conds, generation, infrav1.ConditionPaused, true, infrav1.ReasonPaused, "the Cluster or this object is paused")
		return
	}
	SetCondition(conds, generation, infrav1.ConditionPaused, false, infrav1.ReasonNotPaused, "")
}

// OwnerByKind returns the name of obj's owner of the given Cluster API core
// kind (group cluster.x-k8s.io, any version), or "".
func OwnerByKind(obj client.Object, kind string) string {
	for _, ref := range obj.GetOwnerReferences() {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err == nil && gv.Group == clusterv1.GroupVersion.Group && ref.Kind == kind {
			return ref.Name
		}
	}
	return ""
}

// GetCluster reads the Cluster namespace/name; a missing one is nil, nil.
func GetCluster(ctx context.Context, c client.Client, namespace, name string) (*clusterv1.Cluster, error) {
	if name == "" {
		return nil, nil
	}
	cluster := &clusterv1.Cluster{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cluster); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get Cluster %s/%s: %w", namespace, name, err)
	}
	return cluster, nil
}

// Patch writes what a reconcile changed on obj (before is its state as
// read): metadata and spec first, then the status (copyStatus copies the
// status of its second argument into its first). An object whose deletion
// waited only for finalizer, which the reconcile removed, may be gone once
// that is written: then nothing more is patched.
func Patch[T client.Object](ctx context.Context, c client.Client, before, obj T, finalizer string, copyStatus func(dst, src T)) error {
	kind := fmt.Sprintf("%T %s/%s", obj, obj.GetNamespace(), obj.GetName())
	if obj.GetDeletionTimestamp() != nil && !controllerutil.ContainsFinalizer(obj, finalizer) && controllerutil.ContainsFinalizer(before, finalizer) {
		return client.IgnoreNotFound(c.Patch(ctx, obj, client.MergeFrom(before)))
	}
	want := obj.DeepCopyObject().(T)
	if err := c.Patch(ctx, obj, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("patch %s: %w", kind, err)
	}
	withStatus := obj.DeepCopyObject().(T)
	copyStatus(withStatus, want)
	if err := c.Status().Patch(ctx, withStatus, client.MergeFrom(obj)); err != nil {
		return fmt.Errorf("patch %s status: %w", kind, err)
	}
	return nil
}

// ClusterChanged passes the Cluster events the provider acts on: creation,
// deletion, a spec change (pause, references) and a change of
// status.initialization.infrastructureProvisioned. Cluster API rewrites a
// Cluster's status often; the rest of it changes nothing here.
var ClusterChanged = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	o, okO := e.ObjectOld.(*clusterv1.Cluster)
	n, okN := e.ObjectNew.(*clusterv1.Cluster)
	if !okO || !okN {
		return true
	}
	provisioned := func(c *clusterv1.Cluster) bool {
		p := c.Status.Initialization.InfrastructureProvisioned
		return p != nil && *p
	}
	return o.Generation != n.Generation || provisioned(o) != provisioned(n) ||
		!maps.Equal(o.Annotations, n.Annotations) || (o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil)
}}
