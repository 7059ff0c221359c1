package machines

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	extensionscontroller "github.com/gardener/gardener/extensions/pkg/controller"
	"github.com/gardener/gardener/extensions/pkg/controller/worker"
	"github.com/gardener/gardener/extensions/pkg/controller/worker/genericactuator"
	extensionsv1alpha1helper "github.com/gardener/gardener/pkg/api/extensions/v1alpha1/helper"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	v1beta1constants "github.com/gardener/gardener/pkg/apis/core/v1beta1/constants"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	machinev1alpha1 "github.com/gardener/machine-controller-manager/pkg/apis/machine/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/apis/metal/helper"
	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
	"github.com/metalkube/metalkube/components/extension/provider"
	mcmv1alpha1 "github.com/metalkube/metalkube/shared/apis/mcm/v1alpha1"
)

// AnnotationSpecHash holds the hash of an applied object's desired content.
const AnnotationSpecHash = "metalkube.io/spec-hash"

// FieldOwner is the field manager of applied machine objects.
const FieldOwner = provider.FieldOwner

// UserDataKey is the key of the user data in a machine class Secret.
const UserDataKey = "userData"

// SecretLabels are the labels of machine class Secrets (gardener's generic
// actuator garbage-collects Secrets with them).
func SecretLabels() map[string]string {
	return map[string]string{v1beta1constants.GardenerPurpose: v1beta1constants.GardenPurposeMachineClass}
}

// Input is everything Render needs, decoded.
type Input struct {
	Worker       *extensionsv1alpha1.Worker
	Cluster      *extensionscontroller.Cluster
	CloudProfile *v1alpha1.CloudProfileConfig
	Infra        *v1alpha1.InfrastructureStatus
	Status       *v1alpha1.WorkerStatus
	Pools        map[string]*v1alpha1.WorkerConfig
	// TechnicalID is the backend cluster name.
	TechnicalID string
}

// NewInput decodes the provider documents of a Worker and its Cluster.
func NewInput(c *codec.Codec, w *extensionsv1alpha1.Worker, cluster *extensionscontroller.Cluster) (*Input, error) {
	in := &Input{Worker: w, Cluster: cluster, Pools: map[string]*v1alpha1.WorkerConfig{}, TechnicalID: w.Namespace}
	if cluster != nil && cluster.Shoot != nil && cluster.Shoot.Status.TechnicalID != "" {
		in.TechnicalID = cluster.Shoot.Status.TechnicalID
	}
	var err error
	if cluster != nil && cluster.CloudProfile != nil {
		if in.CloudProfile, err = c.CloudProfileConfig(cluster.CloudProfile.Spec.ProviderConfig); err != nil {
			return nil, fmt.Errorf("CloudProfile %s: %w", cluster.CloudProfile.Name, err)
		}
	}
	if in.Infra, err = c.InfrastructureStatus(w.Spec.InfrastructureProviderStatus); err != nil {
		return nil, fmt.Errorf("worker %s/%s: infrastructureProviderStatus: %w", w.Namespace, w.Name, err)
	}
	if in.Status, err = c.WorkerStatus(w.Status.ProviderStatus); err != nil {
		return nil, fmt.Errorf("worker %s/%s: status.providerStatus: %w", w.Namespace, w.Name, err)
	}
	for _, p := range w.Spec.Pools {
		if in.Pools[p.Name], err = c.WorkerConfig(p.ProviderConfig); err != nil {
			return nil, fmt.Errorf("worker %s/%s: pool %s: %w", w.Namespace, w.Name, p.Name, err)
		}
	}
	return in, nil
}

// Rendered are the objects of a Worker.
type Rendered struct {
	Classes     []*machinev1alpha1.MachineClass
	Secrets     []*corev1.Secret
	Deployments worker.MachineDeployments
	Images      []v1alpha1.MachineImage
}

// Render renders the machine objects; userData maps pool names to their user
// data.
func Render(in *Input, userData map[string][]byte) (*Rendered, error) {
	w := in.Worker
	out := &Rendered{}
	var networks []string
	if in.Infra != nil {
		if in.Infra.Network != nil {
			networks = append(networks, in.Infra.Network.ID)
		}
		networks = append(networks, in.Infra.ExternalNetworks...)
	}
	var sshKeys []string
	if len(w.Spec.SSHPublicKey) > 0 {
		sshKeys = []string{string(w.Spec.SSHPublicKey)}
	}
	for _, pool := range w.Spec.Pools {
		pc := in.Pools[pool.Name]
		if pc == nil {
			pc = &v1alpha1.WorkerConfig{}
		}
		arch := ptr.Deref(pool.Architecture, v1beta1constants.ArchitectureAMD64)
		img, err := helper.FindImage(in.CloudProfile, in.Status, pool.MachineImage.Name, pool.MachineImage.Version, arch)
		if err != nil {
			return nil, fmt.Errorf("worker pool %s: %w", pool.Name, err)
		}
		if !slices.ContainsFunc(out.Images, func(m v1alpha1.MachineImage) bool {
			return m.Name == img.Name && m.Version == img.Version && ptr.Deref(m.Architecture, "") == arch
		}) {
			out.Images = append(out.Images, *img)
		}
		size, typeLabels := helper.MachineType(in.CloudProfile, pool.MachineType)
		// The machine type's labels are the operator's (CloudProfile) and
		// win over the shoot's serverLabels: a tenant may narrow the choice of
		// servers, never redirect a machine type to servers reserved for
		// others. A new map, so the CloudProfile's is never written to.
		var labels map[string]string
		if len(typeLabels)+len(pc.ServerLabels) > 0 {
			labels = make(map[string]string, len(typeLabels)+len(pc.ServerLabels))
			maps.Copy(labels, pc.ServerLabels)
			maps.Copy(labels, typeLabels)
		}

		// The pool hash changes the class name when anything a machine is
		// built from changes, which makes MCM roll the pool.
		hashData := []string{img.Image, size}
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			hashData = append(hashData, k+"="+labels[k])
		}
		if pc.ExtraIgnition != nil {
			hashData = append(hashData, pc.ExtraIgnition.Raw)
		}
		poolHash, err := worker.WorkerPoolHash(pool, in.Cluster, hashData, nil)
		if err != nil {
			return nil, fmt.Errorf("worker pool %s: hash: %w", pool.Name, err)
		}

		poolUserData := userData[pool.Name]
		if pc.ExtraIgnition != nil {
			if poolUserData, err = MergeIgnition(poolUserData, []byte(pc.ExtraIgnition.Raw)); err != nil {
				return nil, fmt.Errorf("worker pool %s: providerConfig.extraIgnition: %w", pool.Name, err)
			}
		}

		zones := pool.Zones
		if len(zones) == 0 {
			zones = []string{w.Spec.Region}
		}
		n := int32(len(zones)) // #nosec G115 -- zones are few
		for zi, zone := range zones {
			idx := int32(zi) // #nosec G115
			deployName := fmt.Sprintf("%s-%s-z%d", in.TechnicalID, pool.Name, zi+1)
			className := deployName + "-" + poolHash
			partition := helper.Partition(in.CloudProfile, w.Spec.Region, zone)

			tags := map[string]string{}
			maps.Copy(tags, pc.Metadata)
			tags[provider.TagCluster] = in.TechnicalID
			tags[provider.TagPool] = pool.Name
			tags[provider.TagZone] = zone

			spec := &mcmv1alpha1.ProviderSpec{
				TypeMeta:     metav1.TypeMeta{APIVersion: mcmv1alpha1.GroupVersion.String(), Kind: mcmv1alpha1.Kind},
				Cluster:      in.TechnicalID,
				Image:        img.Image,
				Size:         size,
				Partition:    partition,
				ServerLabels: labels,
				Networks:     networks,
				Tags:         tags,
				SSHKeys:      sshKeys,
			}
			if errs := mcmv1alpha1.Validate(spec); len(errs) > 0 {
				return nil, fmt.Errorf("worker pool %s: machine class provider spec: %w", pool.Name, errs.ToAggregate())
			}
			raw, err := json.Marshal(spec)
			if err != nil {
				return nil, err
			}

			secret := &corev1.Secret{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
				ObjectMeta: metav1.ObjectMeta{Name: className, Namespace: w.Namespace, Labels: SecretLabels()},
				Type:       corev1.SecretTypeOpaque,
				Data:       map[string][]byte{UserDataKey: poolUserData},
			}
			if err := stampHash(secret, secret.Data); err != nil {
				return nil, err
			}
			out.Secrets = append(out.Secrets, secret)

			mc := &machinev1alpha1.MachineClass{
				TypeMeta:   metav1.TypeMeta{APIVersion: machinev1alpha1.SchemeGroupVersion.String(), Kind: "MachineClass"},
				ObjectMeta: metav1.ObjectMeta{Name: className, Namespace: w.Namespace},
				SecretRef:  &corev1.SecretReference{Name: className, Namespace: w.Namespace},
				CredentialsSecretRef: &corev1.SecretReference{
					Name: w.Spec.SecretRef.Name, Namespace: w.Spec.SecretRef.Namespace,
				},
				Provider:     provider.Type,
				ProviderSpec: runtime.RawExtension{Raw: raw},
				NodeTemplate: &machinev1alpha1.NodeTemplate{
					Capacity:     capacity(pool, in.Cluster),
					InstanceType: pool.MachineType,
					Region:       w.Spec.Region,
					Zone:         zone,
					Architecture: &arch,
				},
			}
			if err := stampHash(mc, struct {
				Spec     json.RawMessage
				Template *machinev1alpha1.NodeTemplate
				Creds    *corev1.SecretReference
			}{raw, mc.NodeTemplate, mc.CredentialsSecretRef}); err != nil {
				return nil, err
			}
			out.Classes = append(out.Classes, mc)

			out.Deployments = append(out.Deployments, worker.MachineDeployment{
				Name:                         deployName,
				PoolName:                     pool.Name,
				ClassName:                    className,
				SecretName:                   className,
				Minimum:                      worker.DistributeOverZones(idx, pool.Minimum, n),
				Maximum:                      worker.DistributeOverZones(idx, pool.Maximum, n),
				Strategy:                     strategy(pool),
				Priority:                     pool.Priority,
				Labels:                       pool.Labels,
				Annotations:                  pool.Annotations,
				Taints:                       pool.Taints,
				MachineConfiguration:         genericactuator.ReadMachineConfiguration(pool),
				ClusterAutoscalerAnnotations: extensionsv1alpha1helper.GetMachineDeploymentClusterAutoscalerAnnotations(pool.ClusterAutoscaler),
			})
		}
	}
	return out, nil
}

func strategy(pool extensionsv1alpha1.WorkerPool) machinev1alpha1.MachineDeploymentStrategy {
	uc := machinev1alpha1.UpdateConfiguration{MaxUnavailable: &pool.MaxUnavailable, MaxSurge: &pool.MaxSurge}
	switch ptr.Deref(pool.UpdateStrategy, "") {
	case gardencorev1beta1.AutoInPlaceUpdate, gardencorev1beta1.ManualInPlaceUpdate:
		ot := machinev1alpha1.OrchestrationTypeAuto
		if *pool.UpdateStrategy == gardencorev1beta1.ManualInPlaceUpdate {
			ot = machinev1alpha1.OrchestrationTypeManual
		}
		return machinev1alpha1.MachineDeploymentStrategy{
			Type:          machinev1alpha1.InPlaceUpdateMachineDeploymentStrategyType,
			InPlaceUpdate: &machinev1alpha1.InPlaceUpdateMachineDeployment{UpdateConfiguration: uc, OrchestrationType: ot},
		}
	}
	return machinev1alpha1.MachineDeploymentStrategy{
		Type:          machinev1alpha1.RollingUpdateMachineDeploymentStrategyType,
		RollingUpdate: &machinev1alpha1.RollingUpdateMachineDeployment{UpdateConfiguration: uc},
	}
}

type annotated interface {
	GetAnnotations() map[string]string
	SetAnnotations(map[string]string)
}

func stampHash(obj annotated, content any) error {
	b, err := json.Marshal(content)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[AnnotationSpecHash] = hex.EncodeToString(sum[:16])
	obj.SetAnnotations(a)
	return nil
}

// capacity is the pool's node template capacity, else the CloudProfile's
// machine type resources (the cluster autoscaler scales from zero with it);
// never nil, as the MachineClass CRD requires an object.
func capacity(pool extensionsv1alpha1.WorkerPool, cluster *extensionscontroller.Cluster) corev1.ResourceList {
	if pool.NodeTemplate != nil && pool.NodeTemplate.Capacity != nil {
		return pool.NodeTemplate.Capacity
	}
	out := corev1.ResourceList{}
	if cluster == nil || cluster.CloudProfile == nil {
		return out
	}
	for _, mt := range cluster.CloudProfile.Spec.MachineTypes {
		if mt.Name != pool.MachineType {
			continue
		}
		if !mt.CPU.IsZero() {
			out[corev1.ResourceCPU] = mt.CPU
		}
		if !mt.Memory.IsZero() {
			out[corev1.ResourceMemory] = mt.Memory
		}
		// machine-controller-manager insists on all three, a zero GPU count included.
		out["gpu"] = mt.GPU
	}
	return out
}
