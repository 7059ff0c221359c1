package metalmachine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	infrav1 "github.com/metalkube/metalkube/components/capi/apis/infrastructure/v1alpha1"
	"github.com/metalkube/metalkube/components/capi/controller/capiutil"
	"github.com/metalkube/metalkube/shared/metal"
)

// Backend is what the reconciler needs of the shared client.
type Backend interface {
	metal.MachineAllocator
	metal.MachineReader
}

// Bootstrap data Secret keys and formats, as Cluster API bootstrap providers
// write them.
const (
	BootstrapValueKey  = "value"
	BootstrapFormatKey = "format"
	FormatCloudConfig  = "cloud-config"
	FormatIgnition     = "ignition"
)

// Defaults of the Reconciler's intervals.
const (
	DefaultPoll  = 5 * time.Second
	DefaultRetry = 30 * time.Second
)

// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=metalmachines,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=metalmachines/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=machines;clusters,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// Reconciler reconciles MetalMachines.
type Reconciler struct {
	Client client.Client
	// APIReader reads bootstrap Secrets from the API server (Secrets are not
	// cached); defaults to Client.
	APIReader client.Reader
	Metal     Backend
	// Poll is how often a machine the backend has not yet started is looked at.
	Poll time.Duration
	// Retry is how long the reconciler waits after a condition it cannot
	// change (no matching server, missing Secret, backend outage).
	Retry time.Duration
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	mm := &infrav1.MetalMachine{}
	if err := r.Client.Get(ctx, req.NamespacedName, mm); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	before := mm.DeepCopy()
	res, err := r.reconcile(ctx, log, mm)
	if perr := capiutil.Patch(ctx, r.Client, before, mm, infrav1.MachineFinalizer, func(dst, src *infrav1.MetalMachine) { dst.Status = src.Status }); perr != nil {
		return reconcile.Result{}, errors.Join(err, perr)
	}
	return res, err
}
func (r *Reconciler) reconcile(ctx context.Context, log logr.Logger, mm *infrav1.MetalMachine) (reconcile.Result, error) {
	conds := &mm.Status.Conditions
	gen := mm.Generation
	machine, err := r.owner(ctx, mm)
	if err != nil {
		return reconcile.Result{}, err
	}
	clusterName := mm.Labels[clusterv1.ClusterNameLabel]
	if machine != nil {
		clusterName = machine.Spec.ClusterName
	}
	cluster, err := capiutil.GetCluster(ctx, r.Client, mm.Namespace, clusterName)
	if err != nil {
		return reconcile.Result{}, err
	}
	paused := capiutil.IsPaused(cluster, mm)
	capiutil.SetPaused(conds, gen, paused)
	if paused {
		log.V(1).Info("Paused")
		return reconcile.Result{}, nil
	}
	if mm.DeletionTimestamp != nil {
		return r.delete(ctx, log, mm, clusterName)
	}
	if machine == nil {
		notReady(mm, infrav1.ReasonWaitingForOwner, "no Cluster API Machine owns this MetalMachine yet")
		return reconcile.Result{}, nil
	}
	if cluster == nil || cluster.Status.Initialization.InfrastructureProvisioned == nil || !*cluster.Status.Initialization.InfrastructureProvisioned {
		notReady(mm, infrav1.ReasonWaitingForCluster, fmt.Sprintf("waiting for the infrastructure of Cluster %s/%s", mm.Namespace, clusterName))
		return reconcile.Result{}, nil
	}
	backendCluster, err := capiutil.BackendCluster(mm.Namespace, clusterName)
	if err != nil {
		capiutil.SetCondition(conds, gen, infrav1.ConditionServerReady, false, infrav1.ReasonInvalidSpec, err.Error())
		notReady(mm, infrav1.ReasonInvalidSpec, err.Error())
		return reconcile.Result{}, nil
	}
	if controllerutil.AddFinalizer(mm, infrav1.MachineFinalizer) {
		// Written before the backend is called, so no machine is ever
		// allocated for an object that could vanish without freeing it.
		return reconcile.Result{Requeue: true}, nil //nolint:staticcheck // SA1019: requeue once the finalizer is stored
	}

	userData, reason, msg, err := r.bootstrapData(ctx, machine)
	if err != nil {
		return reconcile.Result{}, err
	}
	if reason != "" {
		capiutil.SetCondition(conds, gen, infrav1.ConditionBootstrapDataReady, false, reason, msg)
		notReady(mm, reason, msg)
		log.V(1).Info("Waiting for bootstrap data", "reason", reason)
		if reason == infrav1.ReasonWaitingForBootstrapData {
			return reconcile.Result{}, nil // the Machine's update brings us back
		}
		return reconcile.Result{RequeueAfter: r.retry()}, nil // Secrets are not watched
	}
	capiutil.SetCondition(conds, gen, infrav1.ConditionBootstrapDataReady, true, infrav1.ReasonReady, "")

	spec := metal.MachineSpec{
		Name:      capiutil.BackendName(mm),
		Cluster:   backendCluster,
		Image:     mm.Spec.Image,
		Size:      mm.Spec.Size,
		Partition: mm.Spec.Partition,
		Hostname:  mm.Name,
		UserData:  userData,
		Networks:  mm.Spec.Networks,
		SSHKeys:   mm.Spec.SSHKeys,
		Tags:      map[string]string{clusterv1.ClusterNameLabel: clusterName, "cluster.x-k8s.io/machine": machine.Name},
	}
	if spec.Partition == "" {
		spec.Partition = machine.Spec.FailureDomain
	}
	if mm.Spec.ServerSelector != nil {
		spec.Selector = mm.Spec.ServerSelector.MatchLabels
	}
	m, err := r.Metal.AllocateMachine(ctx, spec)
	if err != nil {
		return r.backendError(log, mm, err)
	}
	r.observe(mm, m)
	if m.State == metal.MachineRunning {
		return reconcile.Result{}, nil
	}
	return reconcile.Result{RequeueAfter: r.poll()}, nil
}

// observe copies the backend's view of m onto mm.
func (r *Reconciler) observe(mm *infrav1.MetalMachine, m *metal.Machine) {
	conds, gen := &mm.Status.Conditions, mm.Generation
	mm.Status.MachineID, mm.Status.Server, mm.Status.State = m.ID, m.Server, string(m.State)
	if m.ProviderID != "" && mm.Spec.ProviderID == "" {
		mm.Spec.ProviderID = m.ProviderID
	}
	if m.Partition != "" {
		mm.Status.FailureDomain = m.Partition
	}
	if len(m.Addresses) > 0 || m.Hostname != "" {
		addrs := make([]clusterv1.MachineAddress, 0, len(m.Addresses)+1)
		for _, a := range m.Addresses {
			addrs = append(addrs, clusterv1.MachineAddress{Type: clusterv1.MachineAddressType(a.Type), Address: a.Address})
		}
		host := clusterv1.MachineAddress{Type: clusterv1.MachineHostName, Address: m.Hostname}
		if m.Hostname != "" && !slices.Contains(addrs, host) {
			addrs = append(addrs, host)
		}
		mm.Status.Addresses = addrs
	}
	switch m.State {
	case metal.MachineRunning:
		mm.Status.Initialization.Provisioned = ptr(true)
		capiutil.SetCondition(conds, gen, infrav1.ConditionServerReady, true, infrav1.ReasonReady, fmt.Sprintf("running on server %s", m.Server))
		capiutil.SetCondition(conds, gen, infrav1.ConditionReady, true, infrav1.ReasonReady, "")
	case metal.MachineLost:
		msg := fmt.Sprintf("server %q of machine %s is gone or broken", m.Server, m.ID)
		capiutil.SetCondition(conds, gen, infrav1.ConditionServerReady, false, infrav1.ReasonMachineLost, msg)
		notReady(mm, infrav1.ReasonMachineLost, msg)
	default:
		msg := fmt.Sprintf("machine %s is %s", m.ID, m.State)
		if m.Server != "" {
			msg += " on server " + m.Server
		}
		capiutil.SetCondition(conds, gen, infrav1.ConditionServerReady, false, infrav1.ReasonAllocating, msg)
		notReady(mm, infrav1.ReasonAllocating, msg)
	}
}

// backendError turns an allocation error into conditions: what waiting can
// fix is retried later without an error (no error loop, no log flood), the
// rest goes back to the controller.
func (r *Reconciler) backendError(log logr.Logger, mm *infrav1.MetalMachine, err error) (reconcile.Result, error) {
	conds, gen := &mm.Status.Conditions, mm.Generation
	var reason string
	switch {
	case metal.IsNoCapacity(err):
		reason = infrav1.ReasonNoMatchingServer
	case errors.Is(err, metal.ErrInvalid):
		reason = infrav1.ReasonInvalidSpec
	case metal.IsUnavailable(err):
		reason = infrav1.ReasonBackendUnavailable
	case metal.IsConflict(err):
		reason = infrav1.ReasonOwnershipConflict
	default:
		capiutil.SetCondition(conds, gen, infrav1.ConditionServerReady, false, infrav1.ReasonBackendError, err.Error())
		notReady(mm, infrav1.ReasonBackendError, err.Error())
		return reconcile.Result{}, fmt.Errorf("allocate machine for MetalMachine %s/%s: %w", mm.Namespace, mm.Name, err)
	}
	capiutil.SetCondition(conds, gen, infrav1.ConditionServerReady, false, reason, err.Error())
	notReady(mm, reason, err.Error())
	log.Info("Cannot allocate a machine yet", "reason", reason, "error", err.Error())
	if reason == infrav1.ReasonInvalidSpec {
		return reconcile.Result{}, nil // a spec change brings us back
	}
	return reconcile.Result{RequeueAfter: r.retry()}, nil
}

// bootstrapData returns the Machine's bootstrap data, or the reason and
// message of a condition to wait with.
func (r *Reconciler) bootstrapData(ctx context.Context, machine *clusterv1.Machine) (data []byte, reason, msg string, err error) {
	name := machine.Spec.Bootstrap.DataSecretName
	if name == nil || *name == "" {
		return nil, infrav1.ReasonWaitingForBootstrapData, fmt.Sprintf("Machine %s has no bootstrap data Secret yet (spec.bootstrap.dataSecretName)", machine.Name), nil
	}
	secret := &corev1.Secret{}
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: machine.Namespace, Name: *name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, infrav1.ReasonBootstrapSecretNotFound, fmt.Sprintf("bootstrap data Secret %s/%s of Machine %s not found", machine.Namespace, *name, machine.Name), nil
		}
		return nil, "", "", fmt.Errorf("get bootstrap data Secret %s/%s: %w", machine.Namespace, *name, err)
	}
	value, ok := secret.Data[BootstrapValueKey]
	if !ok || len(value) == 0 {
		return nil, infrav1.ReasonBootstrapDataInvalid, fmt.Sprintf("bootstrap data Secret %s/%s has no %q key", machine.Namespace, *name, BootstrapValueKey), nil
	}
	switch f := string(secret.Data[BootstrapFormatKey]); f {
	case "", FormatCloudConfig, FormatIgnition:
	default:
		return nil, infrav1.ReasonBootstrapDataInvalid, fmt.Sprintf("bootstrap data Secret %s/%s: format %q: want %q or %q", machine.Namespace, *name, f, FormatCloudConfig, FormatIgnition), nil
	}
	return value, "", "", nil
}

// delete frees the backend machine, checking that it is this MetalMachine's,
// then drops the finalizer.
func (r *Reconciler) delete(ctx context.Context, log logr.Logger, mm *infrav1.MetalMachine, clusterName string) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(mm, infrav1.MachineFinalizer) {
		return reconcile.Result{}, nil
	}
	capiutil.SetCondition(&mm.Status.Conditions, mm.Generation, infrav1.ConditionReady, false, infrav1.ReasonDeleting, "freeing the backend machine")
	backendCluster, err := capiutil.BackendCluster(mm.Namespace, clusterName)
	if err != nil || clusterName == "" {
		// Nothing can have been allocated without a valid cluster name.
		controllerutil.RemoveFinalizer(mm, infrav1.MachineFinalizer)
		return reconcile.Result{}, nil
	}
	owner := metal.Owner{Cluster: backendCluster, Name: capiutil.BackendName(mm)}
	id := mm.Status.MachineID
	if id == "" {
		// The allocation may have happened without its status being written.
		m, err := r.Metal.FindMachine(ctx, owner.Cluster, owner.Name)
		switch {
		case metal.IsNotFound(err):
		case err != nil:
			return r.deleteError(mm, err)
		default:
			id = m.ID
		}
	}
	if id != "" {
		if err := r.Metal.FreeMachine(ctx, id, owner); err != nil {
			if metal.IsConflict(err) {
				// The ID now names another owner's machine: ours is gone.
				log.Info("Backend machine belongs to another owner; nothing freed", "machine", id, "error", err.Error())
			} else {
				return r.deleteError(mm, err)
			}
		}
		log.Info("Freed backend machine", "machine", id)
	}
	controllerutil.RemoveFinalizer(mm, infrav1.MachineFinalizer)
	return reconcile.Result{}, nil
}

func (r *Reconciler) deleteError(mm *infrav1.MetalMachine, err error) (reconcile.Result, error) {
	reason := infrav1.ReasonBackendError
	if metal.IsUnavailable(err) {
		reason = infrav1.ReasonBackendUnavailable
	}
	capiutil.SetCondition(&mm.Status.Conditions, mm.Generation, infrav1.ConditionReady, false, reason, "free the backend machine: "+err.Error())
	return reconcile.Result{}, fmt.Errorf("free machine of MetalMachine %s/%s: %w", mm.Namespace, mm.Name, err)
}

// owner returns the Cluster API Machine that owns mm, or nil.
func (r *Reconciler) owner(ctx context.Context, mm *infrav1.MetalMachine) (*clusterv1.Machine, error) {
	name := capiutil.OwnerByKind(mm, "Machine")
	if name == "" {
		return nil, nil
	}
	machine := &clusterv1.Machine{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: mm.Namespace, Name: name}, machine); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get Machine %s/%s: %w", mm.Namespace, name, err)
	}
	return machine, nil
}

// notReady sets Ready=False with reason and message, unless the object is
// already being deleted.
func notReady(mm *infrav1.MetalMachine, reason, msg string) {
	if c := meta.FindStatusCondition(mm.Status.Conditions, infrav1.ConditionReady); c != nil && c.Reason == infrav1.ReasonDeleting {
		return
	}
	capiutil.SetCondition(&mm.Status.Conditions, mm.Generation, infrav1.ConditionReady, false, reason, msg)
}

func (r *Reconciler) poll() time.Duration {
	if r.Poll > 0 {
		return r.Poll
	}
	return DefaultPoll
}

func (r *Reconciler) retry() time.Duration {
	if r.Retry > 0 {
		return r.Retry
	}
	return DefaultRetry
}

func ptr[T any](v T) *T { return &v }
