package metalcluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-logr/logr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	infrav1 "github.com/metalkube/metalkube/components/capi/apis/infrastructure/v1alpha1"
	"github.com/metalkube/metalkube/components/capi/controller/capiutil"
	"github.com/metalkube/metalkube/shared/metal"
)

// Backend is what the reconciler needs of the shared client; partitions are
// listed where the backend also implements metal.PartitionLister.
type Backend interface {
	AllocateIP(ctx context.Context, spec metal.IPSpec) (*metal.IP, error)
	FreeIP(ctx context.Context, id string) error
	FindIPs(ctx context.Context, q metal.IPQuery) ([]metal.IP, error)
	// FindNetworks and FreeNetwork free the private networks the backend
	// allocated for the cluster's machines (metal-stack allocates one with
	// the first machine); backends without networks find none.
	FindNetworks(ctx context.Context, cluster string) ([]metal.Network, error)
	FreeNetwork(ctx context.Context, id string) error
}

// DefaultRetry is how long the reconciler waits after a backend error it
// reports as a condition.
const DefaultRetry = 30 * time.Second

// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=metalclusters,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=metalclusters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=clusters,verbs=get;list;watch

// Reconciler reconciles MetalClusters.
type Reconciler struct {
	Client client.Client
	Metal  Backend
	// Retry is how long to wait after a backend error; default DefaultRetry.
	Retry time.Duration
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	mc := &infrav1.MetalCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, mc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	before := mc.DeepCopy()
	res, err := r.reconcile(ctx, log, mc)
	if perr := capiutil.Patch(ctx, r.Client, before, mc, infrav1.ClusterFinalizer, func(dst, src *infrav1.MetalCluster) { dst.Status = src.Status }); perr != nil {
		return reconcile.Result{}, errors.Join(err, perr)
	}
	return res, err
}
func (r *Reconciler) reconcile(ctx context.Context, log logr.Logger, mc *infrav1.MetalCluster) (reconcile.Result, error) {
	conds, gen := &mc.Status.Conditions, mc.Generation
	clusterName := capiutil.OwnerByKind(mc, "Cluster")
	if clusterName == "" {
		clusterName = mc.Labels[clusterv1.ClusterNameLabel]
	}
	cluster, err := capiutil.GetCluster(ctx, r.Client, mc.Namespace, clusterName)
	if err != nil {
		return reconcile.Result{}, err
	}
	paused := capiutil.IsPaused(cluster, mc)
	capiutil.SetPaused(conds, gen, paused)
	if paused {
		return reconcile.Result{}, nil
	}
	if mc.DeletionTimestamp != nil {
		return r.delete(ctx, log, mc)
	}
	if cluster == nil {
		capiutil.SetCondition(conds, gen, infrav1.ConditionReady, false, infrav1.ReasonWaitingForOwner, "no Cluster API Cluster owns this MetalCluster yet")
		return reconcile.Result{}, nil
	}
	if controllerutil.AddFinalizer(mc, infrav1.ClusterFinalizer) {
		return reconcile.Result{Requeue: true}, nil //nolint:staticcheck // SA1019: requeue once the finalizer is stored
	}
	backendCluster, err := capiutil.BackendCluster(mc.Namespace, cluster.Name)
	if err != nil {
		capiutil.SetCondition(conds, gen, infrav1.ConditionReady, false, infrav1.ReasonInvalidSpec, err.Error())
		return reconcile.Result{}, nil
	}

	endpointOK, res, err := r.endpoint(ctx, mc, backendCluster)
	if err != nil {
		return res, err
	}
	domainsOK := r.failureDomains(ctx, mc)
	switch {
	case endpointOK && domainsOK:
		capiutil.SetCondition(conds, gen, infrav1.ConditionReady, true, infrav1.ReasonReady, "")
	case endpointOK:
		capiutil.SetCondition(conds, gen, infrav1.ConditionReady, false, infrav1.ReasonNotReady, "failure domains not read")
	default:
		capiutil.SetCondition(conds, gen, infrav1.ConditionReady, false, infrav1.ReasonNotReady, "control-plane endpoint not known")
	}
	if endpointOK {
		mc.Status.Initialization.Provisioned = ptr(true)
	}
	if !endpointOK || !domainsOK {
		return reconcile.Result{RequeueAfter: r.retry()}, nil
	}
	return res, nil
}

// endpoint makes sure the control-plane endpoint is known: given, or an IP
// allocated from the backend.
func (r *Reconciler) endpoint(ctx context.Context, mc *infrav1.MetalCluster, backendCluster string) (bool, reconcile.Result, error) {
	conds, gen := &mc.Status.Conditions, mc.Generation
	ep := &mc.Spec.ControlPlaneEndpoint
	if ep.Port == 0 {
		ep.Port = infrav1.DefaultAPIServerPort
	}
	if ep.Host != "" {
		if mc.Status.ControlPlaneIP == "" && mc.Spec.ControlPlaneNetwork != "" {
			// An endpoint allocated here whose ID did not reach the status:
			// found again by its tags.
			ips, err := r.Metal.FindIPs(ctx, metal.IPQuery{Cluster: backendCluster, Tags: endpointTags(capiutil.BackendName(mc))})
			if err != nil {
				capiutil.SetCondition(conds, gen, infrav1.ConditionControlPlaneEndpointReady, false, infrav1.ReasonBackendUnavailable, "find the endpoint IP: "+err.Error())
				return false, reconcile.Result{}, nil
			}
			for _, ip := range ips {
				if ip.Address.String() == ep.Host {
					mc.Status.ControlPlaneIP = ip.ID
				}
			}
		}
		msg := fmt.Sprintf("%s:%d", ep.Host, ep.Port)
		if mc.Status.ControlPlaneIP != "" {
			msg += fmt.Sprintf(" (IP %s of network %s)", mc.Status.ControlPlaneIP, mc.Spec.ControlPlaneNetwork)
		}
		capiutil.SetCondition(conds, gen, infrav1.ConditionControlPlaneEndpointReady, true, infrav1.ReasonReady, msg)
		return true, reconcile.Result{}, nil
	}
	if mc.Spec.ControlPlaneNetwork == "" {
		msg := "spec.controlPlaneEndpoint.host is empty and spec.controlPlaneNetwork names no backend network to allocate it from"
		capiutil.SetCondition(conds, gen, infrav1.ConditionControlPlaneEndpointReady, false, infrav1.ReasonInvalidSpec, msg)
		return false, reconcile.Result{}, nil
	}
	ip, err := r.Metal.AllocateIP(ctx, metal.IPSpec{
		Name: capiutil.BackendName(mc) + "-apiserver", Cluster: backendCluster, Network: mc.Spec.ControlPlaneNetwork, Type: metal.IPStatic,
		Tags: endpointTags(capiutil.BackendName(mc)),
	})
	if err != nil {
		reason := infrav1.ReasonBackendError
		switch {
		case metal.IsUnavailable(err):
			reason = infrav1.ReasonBackendUnavailable
		case metal.IsNoCapacity(err), errors.Is(err, metal.ErrInvalid):
			reason = infrav1.ReasonInvalidSpec
		}
		capiutil.SetCondition(conds, gen, infrav1.ConditionControlPlaneEndpointReady, false, reason, "allocate the control-plane endpoint IP: "+err.Error())
		return false, reconcile.Result{}, nil
	}
	mc.Status.ControlPlaneIP = ip.ID
	ep.Host = ip.Address.String()
	capiutil.SetCondition(conds, gen, infrav1.ConditionControlPlaneEndpointReady, true, infrav1.ReasonReady, fmt.Sprintf("%s:%d (IP %s of network %s)", ep.Host, ep.Port, ip.ID, mc.Spec.ControlPlaneNetwork))
	return true, reconcile.Result{}, nil
}

// PurposeControlPlaneEndpoint is the metal.TagPurpose of a control-plane
// endpoint IP.
const PurposeControlPlaneEndpoint = "control-plane-endpoint"

// TagMetalCluster names the MetalCluster (<namespace>.<name>) an endpoint IP
// was allocated for.
const TagMetalCluster = "capi.metalkube.io/metalcluster"

// endpointTags are the tags of the endpoint IP of the MetalCluster with the
// backend name: they find it again when its ID did not reach the status.
func endpointTags(backendName string) map[string]string {
	return map[string]string{metal.TagPurpose: PurposeControlPlaneEndpoint, TagMetalCluster: backendName}
}

// failureDomains reports the partitions machines may use: the backend's
// (where it lists them), narrowed to spec.failureDomains when given.
func (r *Reconciler) failureDomains(ctx context.Context, mc *infrav1.MetalCluster) bool {
	conds, gen := &mc.Status.Conditions, mc.Generation
	names := mc.Spec.FailureDomains
	if lister, ok := r.Metal.(metal.PartitionLister); ok {
		parts, err := lister.ListPartitions(ctx)
		if err != nil {
			capiutil.SetCondition(conds, gen, infrav1.ConditionFailureDomainsReady, false, infrav1.ReasonBackendUnavailable, "list partitions: "+err.Error())
			return false
		}
		if len(names) > 0 {
			var missing []string
			for _, n := range names {
				if !slices.Contains(parts, n) {
					missing = append(missing, n)
				}
			}
			if len(missing) > 0 {
				capiutil.SetCondition(conds, gen, infrav1.ConditionFailureDomainsReady, false, infrav1.ReasonInvalidSpec,
					fmt.Sprintf("spec.failureDomains %q: the backend has no such partition (it has %q)", missing, parts))
				return false
			}
		} else {
			names = parts
		}
	}
	domains := make([]clusterv1.FailureDomain, 0, len(names))
	for _, n := range names {
		domains = append(domains, clusterv1.FailureDomain{Name: n, ControlPlane: ptr(true)})
	}
	mc.Status.FailureDomains = domains
	capiutil.SetCondition(conds, gen, infrav1.ConditionFailureDomainsReady, true, infrav1.ReasonReady, fmt.Sprintf("%d failure domains", len(domains)))
	return true
}

// delete frees the endpoint IP the provider allocated, then drops the finalizer.
func (r *Reconciler) delete(ctx context.Context, log logr.Logger, mc *infrav1.MetalCluster) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(mc, infrav1.ClusterFinalizer) {
		return reconcile.Result{}, nil
	}
	capiutil.SetCondition(&mc.Status.Conditions, mc.Generation, infrav1.ConditionReady, false, infrav1.ReasonDeleting, "freeing the control-plane endpoint IP and the cluster's networks")
	// Cluster API deletes the infrastructure cluster after every machine:
	// nothing uses the cluster's networks any more.
	clusterName := capiutil.OwnerByKind(mc, "Cluster")
	if clusterName == "" {
		clusterName = mc.Labels[clusterv1.ClusterNameLabel]
	}
	if clusterName != "" {
		if backendCluster, err := capiutil.BackendCluster(mc.Namespace, clusterName); err == nil {
			// The endpoint IP, also when its ID never reached the status
			// (a status write lost after the allocation).
			ips, err := r.Metal.FindIPs(ctx, metal.IPQuery{Cluster: backendCluster, Tags: endpointTags(capiutil.BackendName(mc))})
			if err != nil {
				return reconcile.Result{}, fmt.Errorf("find the endpoint IP of MetalCluster %s/%s: %w", mc.Namespace, mc.Name, err)
			}
			for _, ip := range ips {
				if ip.ID == mc.Status.ControlPlaneIP {
					continue
				}
				if err := r.Metal.FreeIP(ctx, ip.ID); err != nil {
					return reconcile.Result{}, fmt.Errorf("free control-plane endpoint IP %s of MetalCluster %s/%s: %w", ip.ID, mc.Namespace, mc.Name, err)
				}
				log.Info("Freed control-plane endpoint IP", "ip", ip.ID)
			}
			networks, err := r.Metal.FindNetworks(ctx, backendCluster)
			if err != nil && !errors.Is(err, metal.ErrUnsupported) {
				return reconcile.Result{}, fmt.Errorf("find networks of MetalCluster %s/%s: %w", mc.Namespace, mc.Name, err)
			}
			for _, n := range networks {
				if err := r.Metal.FreeNetwork(ctx, n.ID); err != nil {
					return reconcile.Result{}, fmt.Errorf("free network %s of MetalCluster %s/%s: %w", n.ID, mc.Namespace, mc.Name, err)
				}
				log.Info("Freed network", "network", n.ID)
			}
		}
	}
	if id := mc.Status.ControlPlaneIP; id != "" {
		if err := r.Metal.FreeIP(ctx, id); err != nil {
			return reconcile.Result{}, fmt.Errorf("free control-plane endpoint IP %s of MetalCluster %s/%s: %w", id, mc.Namespace, mc.Name, err)
		}
		log.Info("Freed control-plane endpoint IP", "ip", id)
		mc.Status.ControlPlaneIP = ""
	}
	controllerutil.RemoveFinalizer(mc, infrav1.ClusterFinalizer)
	return reconcile.Result{}, nil
}

func (r *Reconciler) retry() time.Duration {
	if r.Retry > 0 {
		return r.Retry
	}
	return DefaultRetry
}

func ptr[T any](v T) *T { return &v }
