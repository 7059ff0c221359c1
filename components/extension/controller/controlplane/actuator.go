package controlplane

import (
	"context"
	"fmt"
	"time"

	extensionscontroller "github.com/gardener/gardener/extensions/pkg/controller"
	"github.com/gardener/gardener/extensions/pkg/controller/controlplane"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"github.com/gardener/gardener/pkg/client/kubernetes"
	gardenerutils "github.com/gardener/gardener/pkg/utils/gardener"
	"github.com/gardener/gardener/pkg/utils/managedresources"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/cloudprovider"
	"github.com/metalkube/metalkube/components/extension/controller/infrastructure"
	"github.com/metalkube/metalkube/components/extension/provider"
)

var genericKubeconfigPath = gardenerutils.PathGenericKubeconfig

// Actuator reconciles ControlPlanes. Contract (gardener's controlplane.Actuator):
//   - Reconcile is idempotent: it (re)writes the shoot access Secret and both
//     ManagedResources; it does not wait for them to be applied (health
//     checks report that).
//   - Delete removes the shoot ManagedResource first (so the RBAC goes while
//     the shoot is still reachable), then the seed one, and waits until both
//     are gone.
//   - Migrate keeps the shoot's objects (keepObjects) and removes the seed
//     side; Restore is Reconcile.
type Actuator struct {
	// Client writes seed objects.
	Client client.Client
	// Codec decodes provider documents.
	Codec *codec.Codec
	// Image runs `metalkube ccm`.
	Image string
	// DeleteTimeout bounds the wait for the ManagedResources to be gone.
	DeleteTimeout time.Duration
}

var _ controlplane.Actuator = (*Actuator)(nil)

// ShootAccessSecretName is the CCM's shoot access Secret.
var ShootAccessSecretName = gardenerutils.SecretNamePrefixShootAccess + provider.CloudControllerManagerName

// Values computes the object inputs of a ControlPlane; the backend flags
// come from the shoot's cloudprovider Secret (cp.Spec.SecretRef).
func (a *Actuator) Values(ctx context.Context, cp *extensionsv1alpha1.ControlPlane, cluster *extensionscontroller.Cluster) (Values, error) {
	cfg, err := a.Codec.ControlPlaneConfig(cp.Spec.ProviderConfig)
	if err != nil {
		return Values{}, err
	}
	infra, err := a.Codec.InfrastructureStatus(cp.Spec.InfrastructureProviderStatus)
	if err != nil {
		return Values{}, fmt.Errorf("infrastructureProviderStatus: %w", err)
	}
	v := Values{
		Namespace:           cp.Namespace,
		Cluster:             cp.Namespace,
		Image:               a.Image,
		Replicas:            1,
		Region:              cp.Spec.Region,
		Partition:           infra.Partition,
		ExternalNetworks:    infra.ExternalNetworks,
		CloudProviderSecret: cp.Spec.SecretRef.Name,
		GenericKubeconfig:   extensionscontroller.GenericTokenKubeconfigSecretNameFromCluster(cluster),
		Config:              cfg,
	}
	if infra.Network != nil {
		v.Network = infra.Network.ID
	}
	if cluster != nil && cluster.Shoot != nil {
		v.Cluster = infrastructure.ClusterName(&extensionsv1alpha1.Infrastructure{ObjectMeta: metav1.ObjectMeta{Namespace: cp.Namespace}}, cluster)
		v.Replicas = int32(extensionscontroller.GetReplicas(cluster, 1)) // #nosec G115 -- 0 or 1
		v.KubernetesVersion = cluster.Shoot.Spec.Kubernetes.Version
		if n := cluster.Shoot.Spec.Networking; n != nil && n.Pods != nil {
			v.PodCIDR = *n.Pods
		}
	}
	ns := cp.Spec.SecretRef.Namespace
	if ns == "" {
		ns = cp.Namespace
	}
	if v.Backend, err = cloudprovider.ForShoot(ctx, a.Client, a.Codec, ns, cp.Spec.SecretRef.Name, cluster, infra.Partition); err != nil {
		return Values{}, err
	}
	return v, nil
}

// Reconcile deploys the control plane objects.
func (a *Actuator) Reconcile(ctx context.Context, log logr.Logger, cp *extensionsv1alpha1.ControlPlane, cluster *extensionscontroller.Cluster) (bool, error) {
	v, err := a.Values(ctx, cp, cluster)
	if err != nil {
		return false, err
	}
	if err := gardenerutils.NewShootAccessSecret(ShootAccessSecretName, cp.Namespace).Reconcile(ctx, a.Client); err != nil {
		return false, fmt.Errorf("shoot access secret of the cloud-controller-manager: %w", err)
	}
	seed, err := SeedObjects(v)
	if err != nil {
		return false, err
	}
	seedData, err := managedresources.NewRegistry(kubernetes.SeedScheme, kubernetes.SeedCodec, kubernetes.SeedSerializer).AddAllAndSerialize(seed...)
	if err != nil {
		return false, fmt.Errorf("serialize seed objects: %w", err)
	}
	if err := managedresources.CreateForSeed(ctx, a.Client, cp.Namespace, provider.ControlPlaneSeedResource, false, seedData); err != nil {
		return false, fmt.Errorf("managed resource %s: %w", provider.ControlPlaneSeedResource, err)
	}
	shootData, err := managedresources.NewRegistry(kubernetes.ShootScheme, kubernetes.ShootCodec, kubernetes.ShootSerializer).AddAllAndSerialize(ShootObjects()...)
	if err != nil {
		return false, fmt.Errorf("serialize shoot objects: %w", err)
	}
	if err := managedresources.CreateForShoot(ctx, a.Client, cp.Namespace, provider.ControlPlaneShootResource, provider.Name, false, shootData); err != nil {
		return false, fmt.Errorf("managed resource %s: %w", provider.ControlPlaneShootResource, err)
	}
	log.V(1).Info("Deployed control plane", "replicas", v.Replicas, "lbMode", v.Config.LoadBalancer.Mode)
	return false, nil
}

func (a *Actuator) timeout() time.Duration {
	if a.DeleteTimeout > 0 {
		return a.DeleteTimeout
	}
	return 2 * time.Minute
}

func (a *Actuator) deleteResource(ctx context.Context, namespace, name string) error {
	if err := managedresources.Delete(ctx, a.Client, namespace, name, true); err != nil {
		return fmt.Errorf("delete managed resource %s: %w", name, err)
	}
	wctx, cancel := context.WithTimeout(ctx, a.timeout())
	defer cancel()
	if err := managedresources.WaitUntilDeleted(wctx, a.Client, namespace, name); err != nil {
		return fmt.Errorf("wait for managed resource %s to be deleted: %w", name, err)
	}
	return nil
}

// Delete removes the control plane.
func (a *Actuator) Delete(ctx context.Context, _ logr.Logger, cp *extensionsv1alpha1.ControlPlane, _ *extensionscontroller.Cluster) error {
	for _, name := range []string{provider.ControlPlaneShootResource, provider.ControlPlaneSeedResource} {
		if err := a.deleteResource(ctx, cp.Namespace, name); err != nil {
			return err
		}
	}
	return a.deleteAccessSecret(ctx, cp.Namespace)
}

func (a *Actuator) deleteAccessSecret(ctx context.Context, namespace string) error {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: ShootAccessSecretName, Namespace: namespace}}
	if err := a.Client.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete shoot access secret: %w", err)
	}
	return nil
}

// ForceDelete is Delete.
func (a *Actuator) ForceDelete(ctx context.Context, log logr.Logger, cp *extensionsv1alpha1.ControlPlane, cluster *extensionscontroller.Cluster) error {
	return a.Delete(ctx, log, cp, cluster)
}

// Migrate keeps the shoot objects and removes the seed side.
func (a *Actuator) Migrate(ctx context.Context, _ logr.Logger, cp *extensionsv1alpha1.ControlPlane, _ *extensionscontroller.Cluster) error {
	if err := managedresources.SetKeepObjects(ctx, a.Client, cp.Namespace, provider.ControlPlaneShootResource, true); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("keep shoot objects: %w", err)
	}
	for _, name := range []string{provider.ControlPlaneShootResource, provider.ControlPlaneSeedResource} {
		if err := a.deleteResource(ctx, cp.Namespace, name); err != nil {
			return err
		}
	}
	return a.deleteAccessSecret(ctx, cp.Namespace)
}

// Restore is Reconcile.
func (a *Actuator) Restore(ctx context.Context, log logr.Logger, cp *extensionsv1alpha1.ControlPlane, cluster *extensionscontroller.Cluster) (bool, error) {
	return a.Reconcile(ctx, log, cp, cluster)
}
