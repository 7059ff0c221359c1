package bastion

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	extensionscontroller "github.com/gardener/gardener/extensions/pkg/controller"
	"github.com/gardener/gardener/extensions/pkg/controller/bastion"
	v1beta1helper "github.com/gardener/gardener/pkg/api/core/v1beta1/helper"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	reconcilerutils "github.com/gardener/gardener/pkg/controllerutils/reconciler"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/apis/metal/helper"
	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
	"github.com/metalkube/metalkube/components/extension/cloudprovider"
	"github.com/metalkube/metalkube/components/extension/controller/infrastructure"
	"github.com/metalkube/metalkube/components/extension/provider"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/options"
)

// Backend is what the actuator needs from the bare-metal client.
type Backend interface {
	metal.MachineAllocator
	metal.MachineReader
	Backend() string
}

// Tags of bastion machines.
const (
	PurposeBastion = "bastion"
	TagBastion     = "metalkube.io/bastion"
)

// Actuator reconciles Bastions. Its contract (gardener's bastion.Actuator):
//   - Reconcile is idempotent: the machine is allocated by (cluster, name),
//     where the name holds a hash of the ingress CIDRs, so a repeated
//     reconcile finds the same machine and a changed ingress a new one (the
//     old one is freed). It returns a requeue until the machine has a public
//     address, which it then writes to status.ingress.
//   - Delete frees every machine of the Bastion (ownership checked) and
//     returns once the backend no longer lists them.
//   - On a backend without public addresses (ironcore) Reconcile refuses
//     with a configuration problem and allocates nothing.
type Actuator struct {
	// Client writes the Bastion's status.
	Client client.Client
	// Backend returns the Bastion's shoot's bare-metal backend.
	Backend BackendFunc
	// Codec decodes provider documents.
	Codec *codec.Codec
}

var _ bastion.Actuator = (*Actuator)(nil)

// BackendFunc returns the bare-metal backend of a Bastion's shoot.
type BackendFunc func(ctx context.Context, b *extensionsv1alpha1.Bastion, cluster *extensionscontroller.Cluster) (Backend, error)

// ShootBackend is the production BackendFunc: the shoot's own backend from
// its cloudprovider Secret in the Bastion's namespace, in the shoot's
// project and partition (package cloudprovider), where its machines are.
func ShootBackend(c client.Reader, cdc *codec.Codec) BackendFunc {
	return func(ctx context.Context, b *extensionsv1alpha1.Bastion, cluster *extensionscontroller.Cluster) (Backend, error) {
		partition, err := cloudprovider.Partition(cdc, cluster)
		if err != nil {
			return nil, err
		}
		return cloudprovider.NewBackend(ctx, c, cdc, b.Namespace, cloudprovider.SecretName, cluster, partition)
	}
}

func (a *Actuator) backend(ctx context.Context, b *extensionsv1alpha1.Bastion, cluster *extensionscontroller.Cluster) (Backend, error) {
	if a.Backend == nil {
		return nil, errors.New("no bare-metal backend configured")
	}
	be, err := a.Backend(ctx, b, cluster)
	if err != nil {
		return nil, fmt.Errorf("backend of bastion %s/%s: %w", b.Namespace, b.Name, err)
	}
	return be, nil
}

// Refusal is the reason a backend runs no bastions, or "".
func Refusal(backend string) string {
	if backend == options.BackendIronCore {
		return "the ironcore backend has no public addresses for machines and no network in front of a server to restrict SSH to the Bastion's ingress CIDRs: bastions are not supported there"
	}
	return ""
}

// Reconcile allocates the bastion machine and reports its public address.
func (a *Actuator) Reconcile(ctx context.Context, log logr.Logger, b *extensionsv1alpha1.Bastion, cluster *extensionscontroller.Cluster) error {
	be, err := a.backend(ctx, b, cluster)
	if err != nil {
		return err
	}
	if why := Refusal(be.Backend()); why != "" {
		return v1beta1helper.NewErrorWithCodes(fmt.Errorf("bastion %s/%s: %s", b.Namespace, b.Name, why), gardencorev1beta1.ErrorConfigurationProblem)
	}
	spec, err := a.machineSpec(b, cluster)
	if err != nil {
		return v1beta1helper.NewErrorWithCodes(fmt.Errorf("bastion %s/%s: %w", b.Namespace, b.Name, err), gardencorev1beta1.ErrorConfigurationProblem)
	}
	m, err := be.AllocateMachine(ctx, *spec)
	if err != nil {
		return fmt.Errorf("allocate bastion machine %s: %w", spec.Name, err)
	}
	if err := a.free(ctx, log, be, b, spec.Cluster, spec.Name); err != nil {
		return err
	}
	addr := publicAddress(m)
	if addr == "" || m.State != metal.MachineRunning {
		return &reconcilerutils.RequeueAfterError{RequeueAfter: 5 * time.Second,
			Cause: fmt.Errorf("bastion machine %s is %s, with no public address yet", m.ID, m.State)}
	}
	patch := client.MergeFrom(b.DeepCopy())
	b.Status.Ingress = &corev1.LoadBalancerIngress{IP: addr}
	if err := a.Client.Status().Patch(ctx, b, patch); err != nil {
		return fmt.Errorf("write status of bastion %s/%s: %w", b.Namespace, b.Name, err)
	}
	log.Info("Bastion ready", "machine", m.ID, "address", addr)
	return nil
}

// publicAddress is the machine's first external IPv4 address (IPv6 when it
// has none).
func publicAddress(m *metal.Machine) string {
	var v6 string
	for _, ad := range m.Addresses {
		if ad.Type != metal.AddressExternalIP {
			continue
		}
		ip, err := netip.ParseAddr(ad.Address)
		if err != nil {
			continue
		}
		if ip.Is4() {
			return ad.Address
		}
		if v6 == "" {
			v6 = ad.Address
		}
	}
	return v6
}

// machineSpec is the bastion machine of b: the CloudProfile's bastion
// machine type and image (else the first worker pool's), the cluster's
// first external network, user data with the SSH filter.
func (a *Actuator) machineSpec(b *extensionsv1alpha1.Bastion, cluster *extensionscontroller.Cluster) (*metal.MachineSpec, error) {
	if cluster == nil || cluster.Shoot == nil || cluster.CloudProfile == nil {
		return nil, errors.New("no Cluster with a shoot and a CloudProfile")
	}
	if len(b.Spec.Ingress) == 0 {
		return nil, errors.New("spec.ingress is empty: SSH would be allowed from nowhere")
	}
	cpc, err := a.Codec.CloudProfileConfig(cluster.CloudProfile.Spec.ProviderConfig)
	if err != nil {
		return nil, fmt.Errorf("CloudProfile %s: %w", cluster.CloudProfile.Name, err)
	}
	ic, err := a.Codec.InfrastructureConfig(cluster.Shoot.Spec.Provider.InfrastructureConfig)
	if err != nil {
		return nil, fmt.Errorf("shoot infrastructureConfig: %w", err)
	}
	var ext string
	switch {
	case ic.Networks != nil && len(ic.Networks.External) > 0:
		ext = ic.Networks.External[0]
	case ic.Firewall != nil && len(ic.Firewall.Networks) > 0:
		ext = ic.Firewall.Networks[0]
	default:
		return nil, errors.New("the shoot has no external network (infrastructureConfig.networks.external or firewall.networks) to give the bastion a public address")
	}
	machineType, imageName, imageVersion, err := bastionMachine(cluster)
	if err != nil {
		return nil, err
	}
	size, labels := helper.MachineType(cpc, machineType)
	image, err := helper.FindImage(cpc, nil, imageName, imageVersion, v1alpha1.DefaultArchitecture)
	if err != nil {
		return nil, err
	}
	rules, err := SSHRules(b.Spec.Ingress)
	if err != nil {
		return nil, err
	}
	ud, err := UserData(b.Spec.UserData, rules)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(rules))
	clusterName := infrastructure.ClusterName(&extensionsv1alpha1.Infrastructure{}, cluster)
	if clusterName == "" {
		clusterName = b.Namespace
	}
	return &metal.MachineSpec{
		Name: "bastion-" + b.Name + "-" + hex.EncodeToString(sum[:])[:8], Cluster: clusterName, Image: image.Image, Size: size, Selector: labels,
		Networks: []string{ext}, UserData: ud,
		Tags: map[string]string{provider.TagCluster: clusterName, provider.TagPurpose: PurposeBastion, TagBastion: b.Name},
	}, nil
}

// bastionMachine returns the machine type and image of the bastion.
func bastionMachine(cluster *extensionscontroller.Cluster) (machineType, image, version string, err error) {
	workers := cluster.Shoot.Spec.Provider.Workers
	if bp := cluster.CloudProfile.Spec.Bastion; bp != nil {
		if bp.MachineType != nil {
			machineType = bp.MachineType.Name
		}
		if bp.MachineImage != nil {
			image = bp.MachineImage.Name
			if bp.MachineImage.Version != nil {
				version = *bp.MachineImage.Version
			}
		}
	}
	if machineType == "" && len(workers) > 0 {
		machineType = workers[0].Machine.Type
	}
	if image == "" && len(workers) > 0 && workers[0].Machine.Image != nil {
		image = workers[0].Machine.Image.Name
		if workers[0].Machine.Image.Version != nil {
			version = *workers[0].Machine.Image.Version
		}
	}
	if version == "" && image != "" {
		for _, mi := range cluster.CloudProfile.Spec.MachineImages {
			if mi.Name == image && len(mi.Versions) > 0 {
				version = mi.Versions[0].Version
			}
		}
	}
	if machineType == "" || image == "" || version == "" {
		return "", "", "", fmt.Errorf("no bastion machine type and image: set the CloudProfile's spec.bastion or give the shoot a worker pool (type %q, image %q, version %q)", machineType, image, version)
	}
	return machineType, image, version, nil
}

// free frees the Bastion's machines other than keep ("" frees all).
func (a *Actuator) free(ctx context.Context, log logr.Logger, be Backend, b *extensionsv1alpha1.Bastion, cluster, keep string) error {
	ms, err := be.ListMachines(ctx, cluster)
	if err != nil {
		return fmt.Errorf("list machines of cluster %s: %w", cluster, err)
	}
	for _, m := range ms {
		if m.Tags[provider.TagPurpose] != PurposeBastion || m.Tags[TagBastion] != b.Name || m.Name == keep {
			continue
		}
		log.Info("Freeing bastion machine", "machine", m.ID, "name", m.Name)
		if err := be.FreeMachine(ctx, m.ID, metal.OwnerOf(&m)); err != nil && !metal.IsNotFound(err) {
			return fmt.Errorf("free bastion machine %s (%s): %w", m.Name, m.ID, err)
		}
	}
	return nil
}

// Delete frees the bastion machines and waits until the backend lists none.
func (a *Actuator) Delete(ctx context.Context, log logr.Logger, b *extensionsv1alpha1.Bastion, cluster *extensionscontroller.Cluster) error {
	be, err := a.backend(ctx, b, cluster)
	if err != nil {
		return err
	}
	if Refusal(be.Backend()) != "" {
		return nil // nothing was allocated
	}
	name := b.Namespace
	if cluster != nil && cluster.Shoot != nil {
		name = infrastructure.ClusterName(&extensionsv1alpha1.Infrastructure{}, cluster)
	}
	if err := a.free(ctx, log, be, b, name, ""); err != nil {
		return err
	}
	ms, err := be.ListMachines(ctx, name)
	if err != nil {
		return fmt.Errorf("list machines of cluster %s: %w", name, err)
	}
	if slices.ContainsFunc(ms, func(m metal.Machine) bool {
		return m.Tags[TagBastion] == b.Name && m.Tags[provider.TagPurpose] == PurposeBastion
	}) {
		return &reconcilerutils.RequeueAfterError{RequeueAfter: 5 * time.Second, Cause: fmt.Errorf("bastion %s: machines still being freed", b.Name)}
	}
	return nil
}

// ForceDelete is Delete.
func (a *Actuator) ForceDelete(ctx context.Context, log logr.Logger, b *extensionsv1alpha1.Bastion, cluster *extensionscontroller.Cluster) error {
	return a.Delete(ctx, log, b, cluster)
}

// SSHRules renders the nftables ruleset of a bastion: SSH from the ingress
// CIDRs only (their excepts first), replies, ICMP and loopback; nothing
// else in. Bad CIDRs are errors naming the entry.
func SSHRules(ingress []extensionsv1alpha1.BastionIngressPolicy) (string, error) {
	var v4, v6, x4, x6 []string
	for i, in := range ingress {
		p, err := netip.ParsePrefix(in.IPBlock.CIDR)
		if err != nil {
			return "", fmt.Errorf("spec.ingress[%d].ipBlock.cidr %q: %w", i, in.IPBlock.CIDR, err)
		}
		if p.Addr().Is4() {
			v4 = append(v4, p.Masked().String())
		} else {
			v6 = append(v6, p.Masked().String())
		}
		for j, e := range in.IPBlock.Except {
			ep, err := netip.ParsePrefix(e)
			if err != nil {
				return "", fmt.Errorf("spec.ingress[%d].ipBlock.except[%d] %q: %w", i, j, e, err)
			}
			if ep.Addr().Is4() {
				x4 = append(x4, ep.Masked().String())
			} else {
				x6 = append(x6, ep.Masked().String())
			}
		}
	}
	var r strings.Builder
	r.WriteString("table inet metalkube-bastion\ndelete table inet metalkube-bastion\ntable inet metalkube-bastion {\n")
	r.WriteString("\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n")
	r.WriteString("\t\tiif \"lo\" accept\n\t\tct state established,related accept\n\t\tct state invalid drop\n")
	r.WriteString("\t\tmeta l4proto { icmp, ipv6-icmp } accept\n")
	set := func(s []string) string { slices.Sort(s); return "{ " + strings.Join(slices.Compact(s), ", ") + " }" }
	if len(x4) > 0 {
		r.WriteString("\t\tip saddr " + set(x4) + " drop\n")
	}
	if len(x6) > 0 {
		r.WriteString("\t\tip6 saddr " + set(x6) + " drop\n")
	}
	if len(v4) > 0 {
		r.WriteString("\t\tip saddr " + set(v4) + " tcp dport 22 accept\n")
	}
	if len(v6) > 0 {
		r.WriteString("\t\tip6 saddr " + set(v6) + " tcp dport 22 accept\n")
	}
	r.WriteString("\t}\n}\n")
	return r.String(), nil
}
