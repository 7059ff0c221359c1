package service

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/metalkube/metalkube/components/lb/balancer"
)

// Names.
const (
	ControllerName = "lb-service"
	// Finalizer holds a Service until its IPs are released.
	Finalizer = "lb.metalkube.io/ip"
	// Event reasons.
	ReasonAllocationFailed = "AllocationFailed"
	ReasonInvalidRequest   = "InvalidLoadBalancerIP"
	ReasonAllocated        = "IPAllocated"
	ReasonReleaseFailed    = "ReleaseFailed"
)

// Reconciler reconciles Services of type LoadBalancer.
type Reconciler struct {
	Client   client.Client
	Balancer *balancer.Balancer
	Recorder record.EventRecorder
	// Class is the spec.loadBalancerClass served; empty serves Services
	// without a class.
	Class string
	// Workers is the number of concurrent reconciles; default 32 (an
	// allocation mostly waits for the IPAM provider, which binds one claim
	// at a time: more in flight keep it busy).
	Workers int
}

func (r *Reconciler) wants(svc *corev1.Service) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.DeletionTimestamp != nil {
		return false
	}
	class := ""
	if svc.Spec.LoadBalancerClass != nil {
		class = *svc.Spec.LoadBalancerClass
	}
	return class == r.Class
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	svc := &corev1.Service{}
	if err := r.Client.Get(ctx, req.NamespacedName, svc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !r.wants(svc) {
		return reconcile.Result{}, r.release(ctx, svc)
	}
	if controllerutil.AddFinalizer(svc, Finalizer) {
		if err := r.Client.Update(ctx, svc); err != nil {
			return reconcile.Result{}, err
		}
	}
	addrs, err := r.Balancer.Ensure(ctx, svc)
	if err != nil {
		if balancer.IsInputError(err) {
			r.Recorder.Event(svc, corev1.EventTypeWarning, ReasonInvalidRequest, err.Error())
			// Nothing will change until the Service does (an update
			// reconciles it again); look again now and then in case the
			// address was freed elsewhere.
			return reconcile.Result{RequeueAfter: 5 * time.Minute}, nil
		}
		r.Recorder.Event(svc, corev1.EventTypeWarning, ReasonAllocationFailed, err.Error())
		return reconcile.Result{}, err
	}
	st := balancer.Status(addrs)
	if equality.Semantic.DeepEqual(svc.Status.LoadBalancer.Ingress, st.Ingress) {
		return reconcile.Result{}, nil
	}
	patch := client.MergeFrom(svc.DeepCopy())
	svc.Status.LoadBalancer = *st
	if err := r.Client.Status().Patch(ctx, svc, patch); err != nil {
		return reconcile.Result{}, fmt.Errorf("write status of service %s: %w", req, err)
	}
	r.Recorder.Eventf(svc, corev1.EventTypeNormal, ReasonAllocated, "load-balancer IPs %v", addrs)
	return reconcile.Result{}, nil
}

// release frees the Service's IPs if it holds the finalizer, then drops it.
func (r *Reconciler) release(ctx context.Context, svc *corev1.Service) error {
	if !controllerutil.ContainsFinalizer(svc, Finalizer) {
		return nil
	}
	if err := r.Balancer.Release(ctx, svc); err != nil {
		r.Recorder.Event(svc, corev1.EventTypeWarning, ReasonReleaseFailed, err.Error())
		return err
	}
	if svc.DeletionTimestamp == nil && len(svc.Status.LoadBalancer.Ingress) > 0 {
		patch := client.MergeFrom(svc.DeepCopy())
		svc.Status.LoadBalancer = corev1.LoadBalancerStatus{}
		if err := r.Client.Status().Patch(ctx, svc, patch); err != nil {
			return err
		}
	}
	controllerutil.RemoveFinalizer(svc, Finalizer)
	return client.IgnoreNotFound(r.Client.Update(ctx, svc))
}
