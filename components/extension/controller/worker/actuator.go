package worker

import (
	"context"
	"fmt"

	extensionscontroller "github.com/gardener/gardener/extensions/pkg/controller"
	"github.com/gardener/gardener/extensions/pkg/controller/worker"
	"github.com/gardener/gardener/extensions/pkg/controller/worker/genericactuator"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	machinev1alpha1 "github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
	"github.com/metalkube/metalkube/components/extension/controller/worker/machines"
)

// DelegateFactory builds the delegate of gardener's generic worker actuator.
type DelegateFactory struct {
	// Client reads and writes seed objects.
	Client client.Client
	// Codec decodes provider documents.
	Codec *codec.Codec
	// AlwaysApply writes every object on every reconcile, like the upstream
	// providers do; the default skips unchanged objects. Kept for comparison
	// in benchmarks.
	AlwaysApply bool
}

var _ genericactuator.DelegateFactory = (*DelegateFactory)(nil)

// WorkerDelegate returns the delegate for one Worker.
func (f *DelegateFactory) WorkerDelegate(_ context.Context, w *extensionsv1alpha1.Worker, cluster *extensionscontroller.Cluster) (genericactuator.WorkerDelegate, error) {
	in, err := machines.NewInput(f.Codec, w, cluster)
	if err != nil {
		return nil, err
	}
	return &delegate{client: f.Client, codec: f.Codec, worker: w, input: in, alwaysApply: f.AlwaysApply}, nil
}

type delegate struct {
	client      client.Client
	codec       *codec.Codec
	worker      *extensionsv1alpha1.Worker
	input       *machines.Input
	alwaysApply bool

	rendered *machines.Rendered
}

func (d *delegate) render(ctx context.Context) (*machines.Rendered, error) {
	if d.rendered != nil {
		return d.rendered, nil
	}
	userData := map[string][]byte{}
	secrets := map[string]*corev1.Secret{} // pools usually share one
	for _, pool := range d.worker.Spec.Pools {
		ud, err := fetchUserData(ctx, d.client, d.worker.Namespace, pool, secrets)
		if err != nil {
			return nil, err
		}
		userData[pool.Name] = ud
	}
	r, err := machines.Render(d.input, userData)
	if err != nil {
		return nil, err
	}
	d.rendered = r
	return r, nil
}

// fetchUserData reads a pool's user data from its Secret, remembering the
// Secrets read in seen.
func fetchUserData(ctx context.Context, c client.Reader, namespace string, pool extensionsv1alpha1.WorkerPool, seen map[string]*corev1.Secret) ([]byte, error) {
	if pool.UserDataSecretRef.Name == "" {
		return nil, fmt.Errorf("worker pool %s has no userDataSecretRef", pool.Name)
	}
	s, ok := seen[pool.UserDataSecretRef.Name]
	if !ok {
		s = &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: pool.UserDataSecretRef.Name}, s); err != nil {
			return nil, fmt.Errorf("user data of worker pool %s: %w", pool.Name, err)
		}
		seen[s.Name] = s
	}
	ud, ok := s.Data[pool.UserDataSecretRef.Key]
	if !ok {
		return nil, fmt.Errorf("user data of worker pool %s: secret %s has no key %s", pool.Name, s.Name, pool.UserDataSecretRef.Key)
	}
	return ud, nil
}

// DeployMachineClasses writes the MachineClasses and their Secrets.
func (d *delegate) DeployMachineClasses(ctx context.Context) error {
	r, err := d.render(ctx)
	if err != nil {
		return err
	}
	have, err := existingHashes(ctx, d.client, d.worker.Namespace)
	if err != nil {
		return err
	}
	for _, s := range r.Secrets {
		if err := apply(ctx, d.client, s, have, d.alwaysApply); err != nil {
			return fmt.Errorf("machine class secret %s: %w", s.Name, err)
		}
	}
	for _, mc := range r.Classes {
		if err := apply(ctx, d.client, mc, have, d.alwaysApply); err != nil {
			return fmt.Errorf("machine class %s: %w", mc.Name, err)
		}
	}
	return nil
}

// GenerateMachineDeployments returns the desired MachineDeployments.
func (d *delegate) GenerateMachineDeployments(ctx context.Context) (worker.MachineDeployments, error) {
	r, err := d.render(ctx)
	if err != nil {
		return nil, err
	}
	return r.Deployments, nil
}

// UpdateMachineImagesStatus records the machine images in use.
func (d *delegate) UpdateMachineImagesStatus(ctx context.Context) error {
	r, err := d.render(ctx)
	if err != nil {
		return err
	}
	raw, err := codec.Encode(&v1alpha1.WorkerStatus{MachineImages: r.Images}, v1alpha1.KindWorkerStatus)
	if err != nil {
		return err
	}
	if d.worker.Status.ProviderStatus != nil && string(d.worker.Status.ProviderStatus.Raw) == string(raw.Raw) {
		return nil
	}
	patch := client.MergeFrom(d.worker.DeepCopy())
	d.worker.Status.ProviderStatus = raw
	if err := d.client.Status().Patch(ctx, d.worker, patch); err != nil {
		return fmt.Errorf("write machine images to status of worker %s/%s: %w", d.worker.Namespace, d.worker.Name, err)
	}
	return nil
}

func (d *delegate) PreReconcileHook(context.Context) error  { return nil }
func (d *delegate) PostReconcileHook(context.Context) error { return nil }
func (d *delegate) PreDeleteHook(context.Context) error     { return nil }
func (d *delegate) PostDeleteHook(context.Context) error    { return nil }

// existingHashes returns the spec hashes of the namespace's MachineClasses and
// machine class Secrets, by kind/name.
func existingHashes(ctx context.Context, c client.Reader, namespace string) (map[string]string, error) {
	out := map[string]string{}
	mcs := &machinev1alpha1.MachineClassList{}
	if err := c.List(ctx, mcs, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list machine classes: %w", err)
	}
	for _, mc := range mcs.Items {
		out["MachineClass/"+mc.Name] = mc.Annotations[machines.AnnotationSpecHash]
	}
	secrets := &corev1.SecretList{}
	if err := c.List(ctx, secrets, client.InNamespace(namespace), client.MatchingLabels(machines.SecretLabels())); err != nil {
		return nil, fmt.Errorf("list machine class secrets: %w", err)
	}
	for _, s := range secrets.Items {
		out["Secret/"+s.Name] = s.Annotations[machines.AnnotationSpecHash]
	}
	return out, nil
}

func apply(ctx context.Context, c client.Client, obj client.Object, have map[string]string, always bool) error {
	key := obj.GetObjectKind().GroupVersionKind().Kind + "/" + obj.GetName()
	if !always {
		if h, ok := have[key]; ok && h == obj.GetAnnotations()[machines.AnnotationSpecHash] {
			return nil
		}
	}
	return c.Patch(ctx, obj, client.Apply, client.FieldOwner(machines.FieldOwner), client.ForceOwnership) //nolint:staticcheck // SA1019: server-side apply of typed objects; client.Client.Apply takes apply configurations, which MCM's API does not generate
}
