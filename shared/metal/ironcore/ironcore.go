package ironcore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	metalv1alpha1 "github.com/ironcore-dev/metal-operator/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/providerid"
)

// Metadata keys metalkube sets on the objects it creates.
const (
	LabelCluster       = "metal.metalkube.io/cluster"
	LabelIPType        = "metal.metalkube.io/ip-type"
	AnnotationName     = "metal.metalkube.io/name"
	AnnotationHostname = "metal.metalkube.io/hostname"
	AnnotationTags     = "metal.metalkube.io/tags"
	// IgnitionKey is the Secret key metal-operator reads the ignition from.
	IgnitionKey = "ignition"
	// SecretType marks the user-data Secrets.
	SecretType corev1.SecretType = "metal.metalkube.io/ignition"
)

// Default server label keys.
const (
	DefaultSizeLabel      = "metal.metalkube.io/size"
	DefaultPartitionLabel = "topology.kubernetes.io/zone"
	DefaultRegionLabel    = "topology.kubernetes.io/region"
)

// PoolRef names an IPAM pool a network's IPs are claimed from: an
// InClusterIPPool (in the backend's namespace) or a GlobalInClusterIPPool of
// the Cluster API in-cluster IPAM provider (APIGroup ipam.cluster.x-k8s.io).
type PoolRef struct {
	APIGroup string
	Kind     string
	Name     string
}

// Config configures the backend.
type Config struct {
	// Client talks to the cluster running metal-operator. It should not read
	// from a cache: allocation decisions need fresh state. A client that can
	// also watch (client.WithWatch) lets AllocateIP wait for the IPAM provider
	// on one shared watch of the namespace's IPAddressClaims instead of each
	// call polling its claim.
	Client client.Client
	// Namespace holds the claims, Secrets and IPAddressClaims.
	Namespace string
	// Pools maps a network name to its IPAM pools, one per IP family.
	Pools map[string][]PoolRef
	// SizeLabel, PartitionLabel and RegionLabel are the Server labels that carry
	// a server's size, partition (zone) and region.
	SizeLabel, PartitionLabel, RegionLabel string
	// IPTimeout bounds how long AllocateIP waits for the IPAM provider; default 10s.
	IPTimeout time.Duration
}

// Backend is the ironcore backend.
type Backend struct {
	c     client.Client
	cfg   Config
	watch *claimWatch // nil when the client cannot watch
}

var _ metal.Client = (*Backend)(nil)

// New returns a backend.
func New(cfg Config) (*Backend, error) {
	if cfg.Client == nil {
		return nil, errors.New("ironcore backend: no client")
	}
	if errs := validation.IsDNS1123Label(cfg.Namespace); len(errs) > 0 {
		return nil, fmt.Errorf("ironcore backend: namespace %q: %s", cfg.Namespace, strings.Join(errs, "; "))
	}
	if cfg.SizeLabel == "" {
		cfg.SizeLabel = DefaultSizeLabel
	}
	if cfg.PartitionLabel == "" {
		cfg.PartitionLabel = DefaultPartitionLabel
	}
	if cfg.RegionLabel == "" {
		cfg.RegionLabel = DefaultRegionLabel
	}
	if cfg.IPTimeout == 0 {
		cfg.IPTimeout = 10 * time.Second
	}
	b := &Backend{c: cfg.Client, cfg: cfg}
	if wc, ok := cfg.Client.(client.WithWatch); ok {
		b.watch = &claimWatch{c: wc, ns: cfg.Namespace}
	}
	return b, nil
}

// Backend implements metal.Client.
func (b *Backend) Backend() string { return "ironcore" }

// Healthy implements metal.Health: it lists one Server.
func (b *Backend) Healthy(ctx context.Context) error {
	if err := b.c.List(ctx, &metalv1alpha1.ServerList{}, client.Limit(1)); err != nil {
		return classify("health", "servers", err)
	}
	return nil
}

// classify turns an API error into a typed metal error.
func classify(op, obj string, err error) error {
	var kind error
	switch {
	case apierrors.IsNotFound(err):
		kind = metal.ErrNotFound
	case apierrors.IsAlreadyExists(err), apierrors.IsConflict(err):
		kind = metal.ErrConflict
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		kind = metal.ErrInvalid
	case apierrors.IsServiceUnavailable(err), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err),
		apierrors.IsTooManyRequests(err), apierrors.IsInternalError(err), isNetError(err):
		kind = metal.ErrUnavailable
	default:
		// Other API answers are the request's fault; anything that is not an
		// API answer (transport, TLS, DNS) means the backend was not reached.
		var se apierrors.APIStatus
		kind = metal.ErrUnavailable
		if errors.As(err, &se) && se.Status().Code < 500 {
			kind = metal.ErrInvalid
		}
	}
	return metal.Wrap(kind, op, obj, err)
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}

// serverSelector is the label selector a spec asks for.
func (b *Backend) serverSelector(spec metal.MachineSpec) map[string]string {
	sel := maps.Clone(spec.Selector)
	if sel == nil {
		sel = map[string]string{}
	}
	if spec.Size != "" {
		sel[b.cfg.SizeLabel] = spec.Size
	}
	if spec.Partition != "" {
		sel[b.cfg.PartitionLabel] = spec.Partition
	}
	return sel
}

func validateSpec(spec metal.MachineSpec) error {
	const op = "allocate machine"
	if errs := validation.IsDNS1123Subdomain(spec.Name); len(errs) > 0 {
		return metal.Errorf(metal.ErrInvalid, op, spec.Name, "name %q: %s", spec.Name, strings.Join(errs, "; "))
	}
	if errs := validation.IsValidLabelValue(spec.Cluster); len(errs) > 0 || spec.Cluster == "" {
		return metal.Errorf(metal.ErrInvalid, op, spec.Name, "cluster %q must be a non-empty label value", spec.Cluster)
	}
	if spec.Image == "" {
		return metal.Errorf(metal.ErrInvalid, op, spec.Name, "image is empty")
	}
	return nil
}

// AllocateMachine implements metal.MachineAllocator. It creates the user-data
// Secret and the ServerClaim; metal-operator binds the claim. Before creating
// it checks that a free server matches, so that a request no server can serve
// fails with ErrNoCapacity instead of waiting forever. On any failure it
// removes what it created.
func (b *Backend) AllocateMachine(ctx context.Context, spec metal.MachineSpec) (*metal.Machine, error) {
	const op = "allocate machine"
	if err := validateSpec(spec); err != nil {
		return nil, err
	}
	claim := &metalv1alpha1.ServerClaim{}
	err := b.c.Get(ctx, client.ObjectKey{Namespace: b.cfg.Namespace, Name: spec.Name}, claim)
	switch {
	case err == nil:
		if claim.Labels[LabelCluster] != spec.Cluster {
			return nil, metal.Errorf(metal.ErrConflict, op, spec.Name, "claim %s/%s belongs to cluster %q", b.cfg.Namespace, spec.Name, claim.Labels[LabelCluster])
		}
		return b.machine(ctx, claim)
	case !apierrors.IsNotFound(err):
		return nil, classify(op, spec.Name, err)
	}

	sel := b.serverSelector(spec)
	if err := b.checkCapacity(ctx, op, spec.Name, sel); err != nil {
		return nil, err
	}

	tags, _ := json.Marshal(spec.Tags)
	hostname := spec.Hostname
	if hostname == "" {
		hostname = spec.Name
	}
	meta := metav1.ObjectMeta{
		Namespace:   b.cfg.Namespace,
		Name:        spec.Name,
		Labels:      map[string]string{LabelCluster: spec.Cluster},
		Annotations: map[string]string{AnnotationName: spec.Name, AnnotationHostname: hostname, AnnotationTags: string(tags)},
	}
	secret := &corev1.Secret{ObjectMeta: *meta.DeepCopy(), Type: SecretType, Data: map[string][]byte{IgnitionKey: spec.UserData}}
	if err := b.c.Create(ctx, secret); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return nil, classify(op, spec.Name, err)
		}
		// Left by an interrupted earlier attempt: take it over with this data.
		existing := &corev1.Secret{}
		if err := b.c.Get(ctx, client.ObjectKeyFromObject(secret), existing); err != nil {
			return nil, classify(op, spec.Name, err)
		}
		existing.Data, existing.Labels, existing.Annotations = secret.Data, secret.Labels, secret.Annotations
		if err := b.c.Update(ctx, existing); err != nil {
			return nil, classify(op, spec.Name, err)
		}
	}
	power := metalv1alpha1.PowerOn
	if spec.PowerOff {
		power = metalv1alpha1.PowerOff
	}
	claim = &metalv1alpha1.ServerClaim{
		ObjectMeta: meta,
		Spec: metalv1alpha1.ServerClaimSpec{
			Power:             power,
			ServerSelector:    &metav1.LabelSelector{MatchLabels: sel},
			IgnitionSecretRef: &corev1.LocalObjectReference{Name: spec.Name},
			Image:             spec.Image,
		},
	}
	if err := b.c.Create(ctx, claim); err != nil {
		if apierrors.IsAlreadyExists(err) { // a concurrent call for the same name won
			return b.AllocateMachine(ctx, spec)
		}
		_ = b.c.Delete(context.WithoutCancel(ctx), secret) // best effort; a retry takes it over
		return nil, classify(op, spec.Name, err)
	}
	return b.machine(ctx, claim)
}

// checkCapacity fails with ErrNoCapacity when the free servers matching sel are
// all spoken for by unbound claims. A server whose claim is gone and that
// metal-operator is still releasing (it drops the claim's finalizer before it
// powers the server off and frees it) counts as free, unless its reclaim
// policy keeps it (Retain); so does a Reserved server whose claim reference
// metal-operator has just cleared (it moves to Available on its next pass).
func (b *Backend) checkCapacity(ctx context.Context, op, name string, sel map[string]string) error {
	servers := &metalv1alpha1.ServerList{}
	if err := b.c.List(ctx, servers, client.MatchingLabels(sel)); err != nil {
		return classify(op, name, err)
	}
	claims := &metalv1alpha1.ServerClaimList{}
	if err := b.c.List(ctx, claims); err != nil {
		return classify(op, name, err)
	}
	live := make(map[string]bool, len(claims.Items))
	for _, c := range claims.Items {
		if c.DeletionTimestamp == nil {
			live[c.Namespace+"/"+c.Name] = true
		}
	}
	free := map[string]labels.Set{}
	// Claims a server already points at are bound, even while metal-operator
	// has not yet written the server onto the claim.
	reserved := map[string]bool{}
	for _, s := range servers.Items {
		if s.Spec.Unclaimable || s.DeletionTimestamp != nil {
			continue
		}
		ref := s.Spec.ServerClaimRef
		switch {
		case ref != nil && live[ref.Namespace+"/"+ref.Name]:
			reserved[ref.Namespace+"/"+ref.Name] = true
		case ref != nil:
			if s.Status.State == metalv1alpha1.ServerStateReserved && s.Spec.ReclaimPolicy != metalv1alpha1.ServerReclaimPolicyRetain {
				free[s.Name] = s.Labels // being released
			}
		case s.Status.State == metalv1alpha1.ServerStateAvailable,
			s.Status.State == metalv1alpha1.ServerStateReserved: // released, not yet Available again
			free[s.Name] = s.Labels
		}
	}
	pending := 0
	for _, c := range claims.Items {
		if c.Spec.ServerRef != nil || c.DeletionTimestamp != nil || c.Spec.ServerSelector == nil || reserved[c.Namespace+"/"+c.Name] {
			continue
		}
		s, err := metav1.LabelSelectorAsSelector(c.Spec.ServerSelector)
		if err != nil {
			continue
		}
		for _, l := range free {
			if s.Matches(l) {
				pending++
				break
			}
		}
	}
	if len(free) > pending {
		return nil
	}
	if len(servers.Items) == 0 {
		return metal.Errorf(metal.ErrNoCapacity, op, name, "no server matches selector %s", labels.SelectorFromSet(sel))
	}
	return metal.Errorf(metal.ErrNoCapacity, op, name, "no free server matches selector %s (%d match, %d free, all claimed)", labels.SelectorFromSet(sel), len(servers.Items), len(free))
}

// machine builds a metal.Machine from a claim and its server, read for it.
func (b *Backend) machine(ctx context.Context, claim *metalv1alpha1.ServerClaim) (*metal.Machine, error) {
	var srv *metalv1alpha1.Server
	if ref := claim.Spec.ServerRef; ref != nil && claim.Status.Phase == metalv1alpha1.PhaseBound {
		srv = &metalv1alpha1.Server{}
		if err := b.c.Get(ctx, client.ObjectKey{Name: ref.Name}, srv); err != nil {
			if !apierrors.IsNotFound(err) {
				return nil, classify("get machine", claim.Name, err)
			}
			srv = nil
		}
	}
	return b.machineOf(claim, srv), nil
}

// machineOf builds a metal.Machine from a claim and its server (nil: none or gone).
func (b *Backend) machineOf(claim *metalv1alpha1.ServerClaim, srv *metalv1alpha1.Server) *metal.Machine {
	m := &metal.Machine{
		ID:         claim.Name,
		Name:       claim.Annotations[AnnotationName],
		Cluster:    claim.Labels[LabelCluster],
		ProviderID: providerid.New(claim.Namespace, claim.Name).String(),
		Hostname:   claim.Annotations[AnnotationHostname],
		Image:      claim.Spec.Image,
		State:      metal.MachinePending,
	}
	if m.Name == "" {
		m.Name = claim.Name
	}
	if t := claim.Annotations[AnnotationTags]; t != "" && t != "null" {
		_ = json.Unmarshal([]byte(t), &m.Tags)
	}
	if claim.Spec.ServerRef == nil || claim.Status.Phase != metalv1alpha1.PhaseBound {
		return m
	}
	m.Server = claim.Spec.ServerRef.Name
	if srv == nil {
		m.State = metal.MachineLost
		return m
	}
	if ref := srv.Spec.ServerClaimRef; ref == nil || ref.Name != claim.Name || ref.Namespace != claim.Namespace || srv.Status.State == metalv1alpha1.ServerStateError {
		m.State = metal.MachineLost
		return m
	}
	m.SystemUUID = srv.Spec.SystemUUID
	m.Labels = maps.Clone(srv.Labels)
	m.Size = srv.Labels[b.cfg.SizeLabel]
	m.Partition = srv.Labels[b.cfg.PartitionLabel]
	m.Region = srv.Labels[b.cfg.RegionLabel]
	m.PoweredOn = srv.Status.PowerState == metalv1alpha1.ServerOnPowerState
	m.State = metal.MachineAllocated
	if m.PoweredOn {
		m.State = metal.MachineRunning
	}
	for _, nic := range srv.Status.NetworkInterfaces {
		for _, ip := range append(slices.Clone(nic.IPs), ptrIP(nic.IP)...) {
			// Link-local addresses (the probe reports fe80::) reach no one
			// beyond the link: they are no node address.
			if !ip.IsValid() || ip.IsLinkLocalUnicast() || ip.IsLoopback() {
				continue
			}
			if a := ip.String(); !slices.ContainsFunc(m.Addresses, func(x metal.Address) bool { return x.Address == a }) {
				m.Addresses = append(m.Addresses, metal.Address{Type: metal.AddressInternalIP, Address: a})
			}
		}
	}
	if m.Hostname != "" {
		m.Addresses = append(m.Addresses, metal.Address{Type: metal.AddressHostname, Address: m.Hostname})
	}
	return m
}

func ptrIP(ip *metalv1alpha1.IP) []metalv1alpha1.IP {
	if ip == nil {
		return nil
	}
	return []metalv1alpha1.IP{*ip}
}

// FreeMachine implements metal.MachineAllocator: it deletes the user-data
// Secret and the claim (metal-operator then releases the server). Each is
// read first and deleted only if its cluster label and name annotation name
// owner, with the UID read as the delete's precondition, so an object
// replaced in between is not deleted either. The Secret goes first, so that a
// call interrupted between the two still finds the claim on retry; objects
// already gone are skipped, so freeing also cleans up a Secret left by an
// allocation interrupted before its claim existed.
func (b *Backend) FreeMachine(ctx context.Context, id string, owner metal.Owner) error {
	const op = "free machine"
	if err := owner.Validate(op, id); err != nil {
		return err
	}
	// The Secret first, then the claim; both are checked before either is
	// deleted.
	var found []client.Object
	for _, obj := range []client.Object{&corev1.Secret{}, &metalv1alpha1.ServerClaim{}} {
		if err := b.c.Get(ctx, client.ObjectKey{Namespace: b.cfg.Namespace, Name: id}, obj); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return classify(op, id, err)
		}
		if err := owner.Check(op, ownerOf(obj)); err != nil {
			return err
		}
		found = append(found, obj)
	}
	for _, obj := range found {
		uid := obj.GetUID()
		if err := b.c.Delete(ctx, obj, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
			return classify(op, id, err)
		}
	}
	return nil
}

// ownerOf returns the machine identity a claim or its user-data Secret
// carries (the name annotation, the claim's name when it has none).
func ownerOf(obj client.Object) *metal.Machine {
	m := &metal.Machine{ID: obj.GetName(), Name: obj.GetAnnotations()[AnnotationName], Cluster: obj.GetLabels()[LabelCluster]}
	if m.Name == "" {
		m.Name = obj.GetName()
	}
	return m
}

// GetMachine implements metal.MachineReader.
func (b *Backend) GetMachine(ctx context.Context, id string) (*metal.Machine, error) {
	claim := &metalv1alpha1.ServerClaim{}
	if err := b.c.Get(ctx, client.ObjectKey{Namespace: b.cfg.Namespace, Name: id}, claim); err != nil {
		return nil, classify("get machine", id, err)
	}
	return b.machine(ctx, claim)
}

// FindMachine implements metal.MachineReader.
func (b *Backend) FindMachine(ctx context.Context, cluster, name string) (*metal.Machine, error) {
	m, err := b.GetMachine(ctx, name)
	if err != nil {
		return nil, err
	}
	if m.Cluster != cluster {
		return nil, metal.Errorf(metal.ErrNotFound, "find machine", name, "claim belongs to cluster %q, not %q", m.Cluster, cluster)
	}
	return m, nil
}

// ListMachines implements metal.MachineReader.
func (b *Backend) ListMachines(ctx context.Context, cluster string) ([]metal.Machine, error) {
	claims := &metalv1alpha1.ServerClaimList{}
	if err := b.c.List(ctx, claims, client.InNamespace(b.cfg.Namespace), client.MatchingLabels{LabelCluster: cluster}); err != nil {
		return nil, classify("list machines", cluster, err)
	}
	// One list of servers for all claims, instead of a read per claim.
	servers := &metalv1alpha1.ServerList{}
	if len(claims.Items) > 0 {
		if err := b.c.List(ctx, servers); err != nil {
			return nil, classify("list machines", cluster, err)
		}
	}
	byName := make(map[string]*metalv1alpha1.Server, len(servers.Items))
	for i := range servers.Items {
		byName[servers.Items[i].Name] = &servers.Items[i]
	}
	out := make([]metal.Machine, 0, len(claims.Items))
	for i := range claims.Items {
		c := &claims.Items[i]
		var srv *metalv1alpha1.Server
		if c.Spec.ServerRef != nil {
			srv = byName[c.Spec.ServerRef.Name]
		}
		out = append(out, *b.machineOf(c, srv))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// SetMachinePower implements metal.MachinePower by patching the claim's power.
func (b *Backend) SetMachinePower(ctx context.Context, id string, on bool) error {
	claim := &metalv1alpha1.ServerClaim{}
	if err := b.c.Get(ctx, client.ObjectKey{Namespace: b.cfg.Namespace, Name: id}, claim); err != nil {
		return classify("set machine power", id, err)
	}
	power := metalv1alpha1.PowerOff
	if on {
		power = metalv1alpha1.PowerOn
	}
	if claim.Spec.Power == power {
		return nil
	}
	patch := client.MergeFrom(claim.DeepCopy())
	claim.Spec.Power = power
	if err := b.c.Patch(ctx, claim, patch); err != nil {
		return classify("set machine power", id, err)
	}
	return nil
}

// AllocateNetwork implements metal.Networks: unsupported on metal-operator.
func (b *Backend) AllocateNetwork(_ context.Context, spec metal.NetworkSpec) (*metal.Network, error) {
	return nil, metal.Errorf(metal.ErrUnsupported, "allocate network", spec.Name, "metal-operator has no network API")
}

// FreeNetwork implements metal.Networks: unsupported on metal-operator.
func (b *Backend) FreeNetwork(_ context.Context, id string) error {
	return metal.Errorf(metal.ErrUnsupported, "free network", id, "metal-operator has no network API")
}

// FindNetworks implements metal.Networks: there are none.
func (b *Backend) FindNetworks(context.Context, string) ([]metal.Network, error) { return nil, nil }

var _ metal.PartitionLister = (*Backend)(nil)

// ListPartitions implements metal.PartitionLister: the values of the
// partition label on the Servers.
func (b *Backend) ListPartitions(ctx context.Context) ([]string, error) {
	servers := &metalv1alpha1.ServerList{}
	if err := b.c.List(ctx, servers, client.HasLabels{b.cfg.PartitionLabel}); err != nil {
		return nil, classify("list partitions", "", err)
	}
	seen := map[string]bool{}
	for _, s := range servers.Items {
		if p := s.Labels[b.cfg.PartitionLabel]; p != "" {
			seen[p] = true
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}
