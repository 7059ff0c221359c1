package cloudprovider

import (
	"context"
	"fmt"
	"path"
	"strings"

	extensionscontroller "github.com/gardener/gardener/extensions/pkg/controller"
	v1beta1constants "github.com/gardener/gardener/pkg/apis/core/v1beta1/constants"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/apis/metal/helper"
	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/options"
)

// Keys of a metalkube cloudprovider Secret.
const (
	// KeyKubeconfig is the kubeconfig of the cluster running metal-operator (ironcore).
	KeyKubeconfig = "kubeconfig"
	// KeyNamespace optionally overrides the region's backend namespace (ironcore).
	KeyNamespace = "namespace"
	// KeyMetalAPIURL, KeyMetalAPIHMAC and KeyMetalAPIKey address metal-api (metal-stack).
	KeyMetalAPIURL  = "metalAPIURL"
	KeyMetalAPIHMAC = "metalAPIHMac"
	KeyMetalAPIKey  = "metalAPIKey"
)

// SecretName is the shoot's cloudprovider Secret in its seed namespace.
const SecretName = v1beta1constants.SecretNameCloudProvider

// VolumeName and MountPath are where the cloudprovider Secret is mounted in
// the ccm and mcm containers.
const (
	VolumeName = "cloudprovider"
	MountPath  = "/srv/cloudprovider"
)

// DefaultIPPoolAPIGroup is the API group of an IPPool without one (Cluster
// API IPAM).
const DefaultIPPoolAPIGroup = "ipam.cluster.x-k8s.io"

// BackendOf returns the backend a cloudprovider Secret addresses.
func BackendOf(s *corev1.Secret) (string, error) {
	_, kc := s.Data[KeyKubeconfig]
	_, url := s.Data[KeyMetalAPIURL]
	switch {
	case kc && url:
		return "", fmt.Errorf("secret %s/%s: keys %s (ironcore) and %s (metal-stack) both set: give one", s.Namespace, s.Name, KeyKubeconfig, KeyMetalAPIURL)
	case kc:
		return options.BackendIronCore, nil
	case url:
		return options.BackendMetalStack, nil
	}
	return "", fmt.Errorf("secret %s/%s: neither key %s (ironcore) nor %s (metal-stack)", s.Namespace, s.Name, KeyKubeconfig, KeyMetalAPIURL)
}

// Input is what Render reads.
type Input struct {
	// Secret is the shoot's cloudprovider Secret.
	Secret *corev1.Secret
	// Region is the CloudProfileConfig's entry of the shoot's region; nil:
	// none.
	Region *v1alpha1.Region
	// Project is the InfrastructureConfig's project (metal-stack).
	Project string
	// Partition is the cluster's partition (metal-stack's default partition).
	Partition string
	// Firewall is true when the InfrastructureConfig enables a firewall
	// (metal-stack only).
	Firewall bool
}

// Flags are a component's backend flags.
type Flags struct {
	// Backend is options.BackendIronCore or options.BackendMetalStack.
	Backend string
	// Args connect to the backend; credential files are under MountPath.
	Args []string
	// IPPools are the values of --ip-pool (ironcore).
	IPPools []string
}

// All returns Args and one --ip-pool per pool.
func (f *Flags) All() []string {
	out := append([]string(nil), f.Args...)
	for _, p := range f.IPPools {
		out = append(out, flag(options.FlagIPPools, p))
	}
	return out
}

func flag(name, value string) string { return "--" + name + "=" + value }

// File is the path of a Secret key inside the container.
func File(key string) string { return path.Join(MountPath, key) }

// Render returns the backend flags of a shoot's components. Settings that do
// not apply to the Secret's backend are errors naming the setting and its
// value, so that nothing configured is silently dropped.
func Render(in Input) (*Flags, error) {
	b, err := BackendOf(in.Secret)
	if err != nil {
		return nil, err
	}
	f := &Flags{Backend: b, Args: []string{flag(options.FlagBackend, b)}}
	switch b {
	case options.BackendIronCore:
		if in.Project != "" {
			return nil, fmt.Errorf("infrastructureConfig.project=%q: the ironcore backend (Secret %s has a %s) has no projects", in.Project, in.Secret.Name, KeyKubeconfig)
		}
		if in.Firewall {
			return nil, fmt.Errorf("infrastructureConfig.firewall.enabled=true: the ironcore backend (Secret %s has a %s) has no firewall machines", in.Secret.Name, KeyKubeconfig)
		}
		ns := string(in.Secret.Data[KeyNamespace])
		if ns == "" && in.Region != nil {
			ns = in.Region.Namespace
		}
		if ns == "" {
			return nil, fmt.Errorf("no backend namespace: set the CloudProfileConfig region's namespace or the Secret %s's key %s", in.Secret.Name, KeyNamespace)
		}
		f.Args = append(f.Args, flag(options.FlagMetalKubeconfig, File(KeyKubeconfig)), flag(options.FlagMetalNamespace, ns))
		if in.Region != nil {
			for i, p := range in.Region.IPPools {
				if p.Network == "" || p.Kind == "" || p.Name == "" || strings.ContainsAny(p.Network+p.Kind+p.Name+p.APIGroup, "=/,") {
					return nil, fmt.Errorf("cloudProfileConfig region %s ipPools[%d] = %+v: want network, kind and name without '=', '/' or ','", in.Region.Name, i, p)
				}
				group := p.APIGroup
				if group == "" {
					group = DefaultIPPoolAPIGroup
				}
				f.IPPools = append(f.IPPools, p.Network+"="+group+"/"+p.Kind+"/"+p.Name)
			}
		}
	case options.BackendMetalStack:
		if in.Project == "" {
			return nil, fmt.Errorf("infrastructureConfig.project is empty: the metal-stack backend (Secret %s has a %s) allocates in a project", in.Secret.Name, KeyMetalAPIURL)
		}
		if in.Region != nil && len(in.Region.IPPools) > 0 {
			return nil, fmt.Errorf("cloudProfileConfig region %s ipPools: the metal-stack backend (Secret %s has a %s) has its own IP API, not IPAM pools", in.Region.Name, in.Secret.Name, KeyMetalAPIURL)
		}
		if ns, ok := in.Secret.Data[KeyNamespace]; ok {
			return nil, fmt.Errorf("secret %s key %s=%q: only for the ironcore backend", in.Secret.Name, KeyNamespace, ns)
		}
		// The URL is no secret; the key is read from its file.
		f.Args = append(f.Args, flag(options.FlagMetalAPIURL, strings.TrimSpace(string(in.Secret.Data[KeyMetalAPIURL]))))
		switch {
		case len(in.Secret.Data[KeyMetalAPIHMAC]) > 0:
			f.Args = append(f.Args, flag(options.FlagMetalAPIHMACFile, File(KeyMetalAPIHMAC)))
		case len(in.Secret.Data[KeyMetalAPIKey]) > 0:
			f.Args = append(f.Args, flag(options.FlagMetalAPITokenFile, File(KeyMetalAPIKey)))
		default:
			return nil, fmt.Errorf("secret %s: metal-api needs key %s or %s", in.Secret.Name, KeyMetalAPIHMAC, KeyMetalAPIKey)
		}
		f.Args = append(f.Args, flag(options.FlagMetalProject, in.Project))
		if in.Partition != "" {
			f.Args = append(f.Args, flag(options.FlagMetalPartition, in.Partition))
		}
	}
	return f, nil
}

// Volume is the cloudprovider Secret as a volume.
func Volume(secretName string) corev1.Volume {
	return corev1.Volume{Name: VolumeName, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secretName}}}
}

// Mount mounts Volume at MountPath, read-only.
func Mount() corev1.VolumeMount {
	return corev1.VolumeMount{Name: VolumeName, MountPath: MountPath, ReadOnly: true}
}

// ReadInput reads a shoot's cloudprovider Secret from its seed namespace and
// completes Render's input with the region of its CloudProfile and the
// project of its InfrastructureConfig (both from the Cluster).
func ReadInput(ctx context.Context, c client.Reader, cdc *codec.Codec, namespace, secretName string, cluster *extensionscontroller.Cluster, partition string) (Input, error) {
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: secretName}, s); err != nil {
		return Input{}, fmt.Errorf("cloudprovider secret %s/%s: %w", namespace, secretName, err)
	}
	in := Input{Secret: s, Partition: partition}
	if cluster != nil && cluster.CloudProfile != nil && cluster.Shoot != nil {
		cpc, err := cdc.CloudProfileConfig(cluster.CloudProfile.Spec.ProviderConfig)
		if err != nil {
			return Input{}, fmt.Errorf("CloudProfile %s: %w", cluster.CloudProfile.Name, err)
		}
		in.Region = helper.Region(cpc, cluster.Shoot.Spec.Region)
	}
	if cluster != nil && cluster.Shoot != nil && cluster.Shoot.Spec.Provider.InfrastructureConfig != nil {
		ic, err := cdc.InfrastructureConfig(cluster.Shoot.Spec.Provider.InfrastructureConfig)
		if err != nil {
			return Input{}, fmt.Errorf("shoot infrastructureConfig: %w", err)
		}
		in.Project = ic.Project
		in.Firewall = ic.Firewall != nil && ic.Firewall.Enabled
	}
	return in, nil
}

// WorkerZones are the zones of each worker pool of the cluster's Shoot.
func WorkerZones(cluster *extensionscontroller.Cluster) [][]string {
	var out [][]string
	if cluster != nil && cluster.Shoot != nil {
		for _, w := range cluster.Shoot.Spec.Provider.Workers {
			out = append(out, w.Zones)
		}
	}
	return out
}

// Partition is the cluster's partition (helper.ClusterPartition) from its
// Shoot and CloudProfile alone: what its Infrastructure records, known
// before the Infrastructure has reported it.
func Partition(cdc *codec.Codec, cluster *extensionscontroller.Cluster) (string, error) {
	if cluster == nil || cluster.Shoot == nil {
		return "", nil
	}
	var cpc *v1alpha1.CloudProfileConfig
	if cluster.CloudProfile != nil {
		var err error
		if cpc, err = cdc.CloudProfileConfig(cluster.CloudProfile.Spec.ProviderConfig); err != nil {
			return "", fmt.Errorf("CloudProfile %s: %w", cluster.CloudProfile.Name, err)
		}
	}
	var ic *v1alpha1.InfrastructureConfig
	if raw := cluster.Shoot.Spec.Provider.InfrastructureConfig; raw != nil {
		var err error
		if ic, err = cdc.InfrastructureConfig(raw); err != nil {
			return "", fmt.Errorf("shoot infrastructureConfig: %w", err)
		}
	}
	return helper.ClusterPartition(cpc, ic, cluster.Shoot.Spec.Region, WorkerZones(cluster)), nil
}

// ForShoot renders the backend flags of a shoot's components (ReadInput,
// then Render).
func ForShoot(ctx context.Context, c client.Reader, cdc *codec.Codec, namespace, secretName string, cluster *extensionscontroller.Cluster, partition string) (*Flags, error) {
	in, err := ReadInput(ctx, c, cdc, namespace, secretName, cluster, partition)
	if err != nil {
		return nil, err
	}
	return Render(in)
}

// Options returns the backend settings the shoot's components get from
// Render, parsed by the same flags, with the credentials taken from the
// Secret into memory instead of from the mounted files. The extension's own
// calls for a shoot (its Infrastructure) so address the shoot's backend,
// project and namespace exactly as the shoot's ccm and mcm do.
func Options(in Input) (*options.Backend, error) {
	f, err := Render(in)
	if err != nil {
		return nil, err
	}
	o := &options.Backend{}
	fs := pflag.NewFlagSet("cloudprovider", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(f.All()); err != nil {
		return nil, fmt.Errorf("rendered backend flags: %w", err)
	}
	data := func(file *string, key string) string {
		if *file != File(key) {
			return ""
		}
		*file = ""
		return strings.TrimSpace(string(in.Secret.Data[key]))
	}
	if kc := data(&o.MetalKubeconfig, KeyKubeconfig); kc != "" {
		o.MetalKubeconfigData = in.Secret.Data[KeyKubeconfig]
	}
	o.MetalAPIHMAC = data(&o.MetalAPIHMACFile, KeyMetalAPIHMAC)
	o.MetalAPIToken = data(&o.MetalAPITokenFile, KeyMetalAPIKey)
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("backend of secret %s/%s: %w", in.Secret.Namespace, in.Secret.Name, err)
	}
	return o, nil
}

// NewBackend returns a client of a shoot's own backend: ReadInput, Options,
// then a client that has answered a health check.
func NewBackend(ctx context.Context, c client.Reader, cdc *codec.Codec, namespace, secretName string, cluster *extensionscontroller.Cluster, partition string) (metal.Client, error) {
	in, err := ReadInput(ctx, c, cdc, namespace, secretName, cluster, partition)
	if err != nil {
		return nil, err
	}
	o, err := Options(in)
	if err != nil {
		return nil, err
	}
	return o.NewClient(ctx)
}
