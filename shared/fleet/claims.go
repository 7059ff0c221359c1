package fleet

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	metalv1alpha1 "github.com/ironcore-dev/metal-operator/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// reconcileClaim binds, powers and releases like metal-operator's ServerClaim
// controller. Every Server update carries its resourceVersion, so a server is
// never bound twice, even with candidates listed from a stale cache.
func (e *Emulator) reconcileClaim(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	claim := &metalv1alpha1.ServerClaim{}
	if err := e.metal.Get(ctx, req.NamespacedName, claim); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if claim.DeletionTimestamp != nil {
		return reconcile.Result{}, e.release(ctx, claim)
	}
	if controllerutil.AddFinalizer(claim, ServerClaimFinalizer) {
		if err := e.metal.Update(ctx, claim); err != nil {
			return reconcile.Result{}, err
		}
	}
	if claim.Status.Phase == "" {
		claim.Status.Phase = metalv1alpha1.PhaseUnbound
		if err := e.metal.Status().Update(ctx, claim); err != nil {
			return reconcile.Result{}, err
		}
	}
	srv, err := e.bind(ctx, claim)
	if err != nil || srv == nil {
		// Nothing free: look again later, as metal-operator does when servers
		// come back.
		return reconcile.Result{RequeueAfter: time.Second}, err
	}
	if claim.Status.Phase != metalv1alpha1.PhaseBound {
		claim.Status.Phase = metalv1alpha1.PhaseBound
		if err := e.metal.Status().Update(ctx, claim); err != nil {
			return reconcile.Result{}, err
		}
	}
	return e.power(ctx, claim, srv)
}

// bind returns the claim's server, choosing and reserving one if needed.
func (e *Emulator) bind(ctx context.Context, claim *metalv1alpha1.ServerClaim) (*metalv1alpha1.Server, error) {
	if ref := claim.Spec.ServerRef; ref != nil {
		srv := &metalv1alpha1.Server{}
		if err := e.metal.Get(ctx, client.ObjectKey{Name: ref.Name}, srv); err != nil {
			return nil, client.IgnoreNotFound(err) // a lost server stays lost
		}
		if owns(srv, claim) {
			return srv, nil
		}
		if !claimable(srv, claim) {
			return nil, nil
		}
		return e.reserve(ctx, srv, claim)
	}
	var sel labels.Selector = labels.Everything()
	if claim.Spec.ServerSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(claim.Spec.ServerSelector)
		if err != nil {
			return nil, nil // invalid selector: never binds
		}
		sel = s
	}
	servers := &metalv1alpha1.ServerList{}
	if err := e.cached.List(ctx, servers, client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, err
	}
	slices.SortFunc(servers.Items, func(a, b metalv1alpha1.Server) int { return compare(a.Name, b.Name) })
	for i := range servers.Items {
		if owns(&servers.Items[i], claim) { // reserved by an earlier, interrupted pass
			return e.reserve(ctx, &servers.Items[i], claim)
		}
	}
	// Start at a place of the claim's own, so that concurrent workers do not all
	// race for the first free server.
	h := fnv.New32a()
	h.Write([]byte(claim.Namespace + "/" + claim.Name))
	for k := range servers.Items {
		srv := &servers.Items[(k+int(h.Sum32()))%len(servers.Items)]
		if !claimable(srv, claim) {
			continue
		}
		got, err := e.reserve(ctx, srv, claim)
		if apierrors.IsConflict(err) {
			continue // someone changed it: try the next one
		}
		return got, err
	}
	return nil, nil
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func owns(srv *metalv1alpha1.Server, claim *metalv1alpha1.ServerClaim) bool {
	ref := srv.Spec.ServerClaimRef
	return ref != nil && ref.Name == claim.Name && ref.Namespace == claim.Namespace
}

func claimable(srv *metalv1alpha1.Server, claim *metalv1alpha1.ServerClaim) bool {
	if srv.Spec.ServerClaimRef != nil || srv.Spec.Unclaimable || srv.Status.State != metalv1alpha1.ServerStateAvailable || srv.DeletionTimestamp != nil {
		return false
	}
	for _, taint := range srv.Spec.Taints {
		if taint.Effect != metalv1alpha1.TaintEffectNoBind {
			continue
		}
		if !slices.ContainsFunc(claim.Spec.Tolerations, func(t metalv1alpha1.Toleration) bool { return tolerates(t, taint) }) {
			return false
		}
	}
	return true
}

func tolerates(t metalv1alpha1.Toleration, taint metalv1alpha1.Taint) bool {
	if t.Key != taint.Key || (t.Effect != "" && t.Effect != taint.Effect) {
		return false
	}
	switch t.Operator {
	case metalv1alpha1.TolerationOperatorExists:
		return true
	case metalv1alpha1.TolerationOperatorEqual, "":
		return t.Value == taint.Value
	}
	return false
}

// reserve writes the claim ref on the server (optimistic lock), moves it to
// Reserved and records the server on the claim.
func (e *Emulator) reserve(ctx context.Context, srv *metalv1alpha1.Server, claim *metalv1alpha1.ServerClaim) (*metalv1alpha1.Server, error) {
	if !owns(srv, claim) {
		srv.Spec.ServerClaimRef = &metalv1alpha1.ImmutableObjectReference{Namespace: claim.Namespace, Name: claim.Name}
		if err := e.metal.Update(ctx, srv); err != nil {
			return nil, err
		}
	}
	if srv.Status.State != metalv1alpha1.ServerStateReserved {
		srv.Status.State = metalv1alpha1.ServerStateReserved
		if err := e.metal.Status().Update(ctx, srv); err != nil {
			return nil, err
		}
	}
	if claim.Spec.ServerRef == nil {
		patch := client.MergeFrom(claim.DeepCopy())
		claim.Spec.ServerRef = &corev1.LocalObjectReference{Name: srv.Name}
		if err := e.metal.Patch(ctx, claim, patch); err != nil {
			return nil, err
		}
	}
	return srv, nil
}

// power drives the server's observed power state toward the claim's and
// boots it once on. (Server.spec.power is deprecated in metal-operator; the
// claim is the desired state, status.powerState the truth.) A server that
// lost power under a claim that wants it on is powered on again and boots
// anew, as metal-operator does.
func (e *Emulator) power(ctx context.Context, claim *metalv1alpha1.ServerClaim, srv *metalv1alpha1.Server) (reconcile.Result, error) {
	switch {
	case claim.Spec.Power == metalv1alpha1.PowerOff && srv.Status.PowerState != metalv1alpha1.ServerOffPowerState:
		e.stopKubelet(srv.Name)
		e.forget(srv.Name)
		srv.Status.PowerState = metalv1alpha1.ServerOffPowerState
		return reconcile.Result{}, e.metal.Status().Update(ctx, srv)
	case claim.Spec.Power == metalv1alpha1.PowerOn && srv.Status.PowerState != metalv1alpha1.ServerOnPowerState:
		srv.Status.PowerState = metalv1alpha1.ServerOnPowerState
		if err := e.metal.Status().Update(ctx, srv); err != nil {
			return reconcile.Result{}, err
		}
	}
	if claim.Spec.Power == metalv1alpha1.PowerOn && e.cfg.RegisterNodes {
		return e.boot(ctx, claim, srv)
	}
	return reconcile.Result{}, nil
}

// release frees the claim's server: power off, claim ref cleared, Available.
func (e *Emulator) release(ctx context.Context, claim *metalv1alpha1.ServerClaim) error {
	if !controllerutil.ContainsFinalizer(claim, ServerClaimFinalizer) {
		return nil
	}
	servers := &metalv1alpha1.ServerList{}
	if err := e.metal.List(ctx, servers); err != nil {
		return err
	}
	for i := range servers.Items {
		srv := &servers.Items[i]
		if !owns(srv, claim) {
			continue
		}
		e.stopKubelet(srv.Name)
		e.forget(srv.Name)
		srv.Spec.ServerClaimRef = nil
		if err := e.metal.Update(ctx, srv); err != nil {
			return fmt.Errorf("release server %s: %w", srv.Name, err)
		}
		srv.Status.State, srv.Status.PowerState = metalv1alpha1.ServerStateAvailable, metalv1alpha1.ServerOffPowerState
		if err := e.metal.Status().Update(ctx, srv); err != nil {
			return fmt.Errorf("release server %s: %w", srv.Name, err)
		}
	}
	controllerutil.RemoveFinalizer(claim, ServerClaimFinalizer)
	return client.IgnoreNotFound(e.metal.Update(ctx, claim))
}
