package testosc

import (
	"fmt"

	"github.com/Masterminds/semver/v3"
	"github.com/gardener/gardener/imagevector"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"github.com/gardener/gardener/pkg/component/extensions/operatingsystemconfig/nodeinit"
	"github.com/gardener/gardener/pkg/component/extensions/operatingsystemconfig/original"
	"github.com/gardener/gardener/pkg/component/extensions/operatingsystemconfig/original/components"
	"github.com/gardener/gardener/pkg/component/extensions/operatingsystemconfig/original/components/gardeneruser"
	"github.com/gardener/gardener/pkg/component/extensions/operatingsystemconfig/original/components/nodeagent"
	"github.com/gardener/gardener/pkg/component/extensions/operatingsystemconfig/original/components/sshdensurer"
	gardenletfeatures "github.com/gardener/gardener/pkg/gardenlet/features"
	gardenerimagevector "github.com/gardener/gardener/pkg/utils/imagevector"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The shoot the Gardener-rendered OSCs are for.
const (
	gardenerKubernetesVersion = "1.36.4"
	gardenerAPIServerURL      = "https://api.prod.metal.example.org"
	gardenerPool              = "worker-a"
)

func gardenerImages() map[string]*gardenerimagevector.Image {
	image := func(name, repo, tag string) *gardenerimagevector.Image {
		return &gardenerimagevector.Image{Name: name, Repository: ptr.To(repo), Tag: ptr.To(tag)}
	}
	const r = "europe-docker.pkg.dev/gardener-project/releases/"
	return map[string]*gardenerimagevector.Image{
		imagevector.ContainerImageNameGardenerNodeAgent:      image("gardener-node-agent", r+"gardener/node-agent", "v1.150.0"),
		imagevector.ContainerImageNameHyperkube:              image("hyperkube", r+"hyperkube", "v"+gardenerKubernetesVersion),
		imagevector.ContainerImageNameValitail:               image("valitail", r+"valitail", "v2.2.21"),
		imagevector.ContainerImageNameOpentelemetryCollector: image("opentelemetry-collector", r+"otelcol", "v0.120.0"),
		imagevector.ContainerImageNamePauseContainer:         image("pause-container", "registry.k8s.io/pause", "3.10"),
	}
}

func gardenerContext(sshAccess bool) components.Context {
	return components.Context{
		Key:                 "gardener-node-agent-" + gardenerPool + "-77ac3",
		CABundle:            caBundle,
		ClusterDNSAddresses: []string{"100.64.0.10"},
		ClusterDomain:       "cluster.local",
		CRIName:             extensionsv1alpha1.CRINameContainerD,
		Images:              gardenerImages(),
		NodeLabels:          map[string]string{"worker.gardener.cloud/pool": gardenerPool},
		KubeletCABundle:     []byte(caBundle),
		KubernetesVersion:   semver.MustParse(gardenerKubernetesVersion),
		SSHPublicKeys:       []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3Qta2V5LW9ubHktbm90LWEtcmVhbC1vbmU operator@example.org"},
		SSHAccessEnabled:    sshAccess,
		APIServerURL:        gardenerAPIServerURL,
		NodeMonitorGracePeriod: metav1.Duration{
			Duration: 40_000_000_000,
		},
	}
}

// GardenerProvision returns the provision OSC gardenlet creates for a worker
// pool of the given OS type, its units and files computed by gardenlet's own
// code (pkg/component/extensions/operatingsystemconfig: nodeinit.Config, and
// the gardener-user and sshd-ensurer components when SSH access is on), with
// the fields gardenlet sets on it.
func GardenerProvision(name, osType string, sshAccess bool) (*extensionsv1alpha1.OperatingSystemConfig, error) {
	worker := gardencorev1beta1.Worker{
		Name:    gardenerPool,
		Machine: gardencorev1beta1.Machine{Type: "c1-xlarge-x86", Image: &gardencorev1beta1.ShootMachineImage{Name: osType, Version: ptr.To("1.0.0")}},
		CRI:     &gardencorev1beta1.CRI{Name: gardencorev1beta1.CRINameContainerD},
	}
	ctx := gardenerContext(sshAccess)
	units, files, err := nodeinit.Config(worker, ctx.Images[imagevector.ContainerImageNameGardenerNodeAgent].String(),
		nodeagent.ComponentConfig(ctx.Key, ctx.KubernetesVersion, gardenerAPIServerURL, nil), []byte(caBundle), false)
	if err != nil {
		return nil, fmt.Errorf("gardener node-init config: %w", err)
	}
	if sshAccess {
		for _, c := range []components.Component{gardeneruser.New(), sshdensurer.New()} {
			u, f, err := c.Config(ctx)
			if err != nil {
				return nil, fmt.Errorf("gardener %s config: %w", c.Name(), err)
			}
			units, files = append(units, u...), append(files, f...)
		}
	}
	return &extensionsv1alpha1.OperatingSystemConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Spec: extensionsv1alpha1.OperatingSystemConfigSpec{
			DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: osType},
			Purpose:     extensionsv1alpha1.OperatingSystemConfigPurposeProvision,
			CRIConfig:   &extensionsv1alpha1.CRIConfig{Name: extensionsv1alpha1.CRINameContainerD},
			Units:       units,
			Files:       files,
		},
	}, nil
}

// GardenerReconcile returns the reconcile OSC gardenlet creates for a worker
// pool of the given OS type: its units and files from gardenlet's own
// original.Config, its CRI config as gardenlet sets it.
func GardenerReconcile(name, osType string, sshAccess bool) (*extensionsv1alpha1.OperatingSystemConfig, error) {
	// gardenlet registers its feature gates (in Gardener's process-wide
	// gate) before it renders; adding the same gates again is a no-op.
	gardenletfeatures.RegisterFeatureGates()
	ctx := gardenerContext(sshAccess)
	units, files, err := original.Config(ctx)
	if err != nil {
		return nil, fmt.Errorf("gardener original config: %w", err)
	}
	return &extensionsv1alpha1.OperatingSystemConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Spec: extensionsv1alpha1.OperatingSystemConfigSpec{
			DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: osType},
			Purpose:     extensionsv1alpha1.OperatingSystemConfigPurposeReconcile,
			CRIConfig: &extensionsv1alpha1.CRIConfig{
				Name:         extensionsv1alpha1.CRINameContainerD,
				CgroupDriver: ptr.To(extensionsv1alpha1.CgroupDriverSystemd),
				Containerd:   &extensionsv1alpha1.ContainerdConfig{SandboxImage: ctx.Images[imagevector.ContainerImageNamePauseContainer].String()},
			},
			Units: units,
			Files: files,
		},
	}, nil
}
