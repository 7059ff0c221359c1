package controlplane

import (
	"context"
	"fmt"

	"github.com/Masterminds/semver/v3"
	"github.com/coreos/go-systemd/v22/unit"
	extensionswebhook "github.com/gardener/gardener/extensions/pkg/webhook"
	extensionscontextwebhook "github.com/gardener/gardener/extensions/pkg/webhook/context"
	"github.com/gardener/gardener/extensions/pkg/webhook/controlplane/genericmutator"
	v1beta1constants "github.com/gardener/gardener/pkg/apis/core/v1beta1/constants"
	"github.com/gardener/gardener/pkg/component/nodemanagement/machinecontrollermanager"
	appsv1 "k8s.io/api/apps/v1"
	vpaautoscalingv1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	kubeletconfigv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/cloudprovider"
	"github.com/metalkube/metalkube/components/extension/provider"
)

// Ensurer mutates control plane objects for bare metal.
type Ensurer struct {
	genericmutator.NoopEnsurer
	// MCMImage runs the `metalkube mcm` sidecar.
	MCMImage string
	// Client reads the shoot's cloudprovider Secret.
	Client client.Reader
	// Codec decodes provider documents.
	Codec *codec.Codec
}

var _ genericmutator.Ensurer = (*Ensurer)(nil)

// EnsureKubeAPIServerDeployment removes in-tree cloud provider flags.
func (e *Ensurer) EnsureKubeAPIServerDeployment(_ context.Context, _ extensionscontextwebhook.GardenContext, dep, _ *appsv1.Deployment) error {
	if c := extensionswebhook.ContainerWithName(dep.Spec.Template.Spec.Containers, v1beta1constants.DeploymentNameKubeAPIServer); c != nil {
		c.Command = extensionswebhook.EnsureNoStringWithPrefix(c.Command, "--cloud-provider=")
		c.Command = extensionswebhook.EnsureNoStringWithPrefix(c.Command, "--cloud-config=")
		c.Args = extensionswebhook.EnsureNoStringWithPrefix(c.Args, "--cloud-provider=")
		c.Args = extensionswebhook.EnsureNoStringWithPrefix(c.Args, "--cloud-config=")
	}
	return nil
}

// EnsureKubeControllerManagerDeployment sets the external cloud provider.
func (e *Ensurer) EnsureKubeControllerManagerDeployment(_ context.Context, _ extensionscontextwebhook.GardenContext, dep, _ *appsv1.Deployment) error {
	if c := extensionswebhook.ContainerWithName(dep.Spec.Template.Spec.Containers, v1beta1constants.DeploymentNameKubeControllerManager); c != nil {
		c.Command = extensionswebhook.EnsureStringWithPrefix(c.Command, "--cloud-provider=", "external")
		c.Command = extensionswebhook.EnsureNoStringWithPrefix(c.Command, "--cloud-config=")
		c.Command = extensionswebhook.EnsureStringWithPrefix(c.Command, "--configure-cloud-routes=", "false")
	}
	return nil
}

// EnsureMachineControllerManagerDeployment injects the `metalkube mcm`
// sidecar: Gardener's provider sidecar container with the backend flags of
// the shoot's cloudprovider Secret (package cloudprovider) and that Secret
// mounted for its credential files.
func (e *Ensurer) EnsureMachineControllerManagerDeployment(ctx context.Context, gctx extensionscontextwebhook.GardenContext, dep, _ *appsv1.Deployment) error {
	cluster, err := gctx.GetCluster(ctx)
	if err != nil {
		return fmt.Errorf("read Cluster of %s/%s: %w", dep.Namespace, dep.Name, err)
	}
	// From the Shoot, not the Infrastructure's status: gardenlet deploys
	// machine-controller-manager whether or not the Infrastructure has
	// reported yet, and the webhook sees the Deployment only then.
	partition, err := cloudprovider.Partition(e.Codec, cluster)
	if err != nil {
		return fmt.Errorf("partition of %s: %w", dep.Namespace, err)
	}
	backend, err := cloudprovider.ForShoot(ctx, e.Client, e.Codec, dep.Namespace, cloudprovider.SecretName, cluster, partition)
	if err != nil {
		return fmt.Errorf("backend of the machine-controller-manager in %s: %w", dep.Namespace, err)
	}
	c := machinecontrollermanager.ProviderSidecarContainer(cluster.Shoot, dep.Namespace, provider.Name, e.MCMImage)
	// The image's entrypoint is the metalkube multicall binary.
	c.Args = append(append([]string{"mcm"}, c.Args...), backend.All()...)
	c.VolumeMounts = extensionswebhook.EnsureVolumeMountWithName(c.VolumeMounts, cloudprovider.Mount())
	ps := &dep.Spec.Template.Spec
	ps.Containers = extensionswebhook.EnsureContainerWithName(ps.Containers, c)
	ps.Volumes = extensionswebhook.EnsureVolumeWithName(ps.Volumes, cloudprovider.Volume(cloudprovider.SecretName))
	return nil
}

// EnsureMachineControllerManagerVPA adds the sidecar's resource policy.
func (e *Ensurer) EnsureMachineControllerManagerVPA(_ context.Context, _ extensionscontextwebhook.GardenContext, vpa, _ *vpaautoscalingv1.VerticalPodAutoscaler) error {
	if vpa.Spec.ResourcePolicy == nil {
		vpa.Spec.ResourcePolicy = &vpaautoscalingv1.PodResourcePolicy{}
	}
	vpa.Spec.ResourcePolicy.ContainerPolicies = extensionswebhook.EnsureVPAContainerResourcePolicyWithName(
		vpa.Spec.ResourcePolicy.ContainerPolicies, machinecontrollermanager.ProviderSidecarVPAContainerPolicy(provider.Name))
	return nil
}

// EnsureKubeletServiceUnitOptions runs the kubelet with the external cloud provider.
func (e *Ensurer) EnsureKubeletServiceUnitOptions(_ context.Context, _ extensionscontextwebhook.GardenContext, _ *semver.Version, opts, _ []*unit.UnitOption) ([]*unit.UnitOption, error) {
	if opt := extensionswebhook.UnitOptionWithSectionAndName(opts, "Service", "ExecStart"); opt != nil {
		cmd := extensionswebhook.DeserializeCommandLine(opt.Value)
		cmd = extensionswebhook.EnsureStringWithPrefix(cmd, "--cloud-provider=", "external")
		cmd = extensionswebhook.EnsureNoStringWithPrefix(cmd, "--cloud-config=")
		opt.Value = extensionswebhook.SerializeCommandLine(cmd, 1, " \\\n    ")
	}
	return opts, nil
}

// EnsureKubeletConfiguration lets the controller manager attach volumes.
func (e *Ensurer) EnsureKubeletConfiguration(_ context.Context, _ extensionscontextwebhook.GardenContext, _ *semver.Version, cfg, _ *kubeletconfigv1beta1.KubeletConfiguration) error {
	cfg.EnableControllerAttachDetach = ptr.To(true)
	return nil
}
