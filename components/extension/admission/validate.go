package admission

import (
	"fmt"

	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
	"github.com/metalkube/metalkube/components/extension/apis/metal/validation"
	"github.com/metalkube/metalkube/components/extension/cloudprovider"
	"github.com/metalkube/metalkube/components/extension/provider"
	"github.com/metalkube/metalkube/shared/kubeconfig"
)

// Validator validates metalkube's provider documents in garden objects.
type Validator struct {
	Codec *codec.Codec
}

// NewValidator returns a Validator.
func NewValidator() *Validator { return &Validator{Codec: codec.New()} }

func apiVersionKind(raw *runtime.RawExtension) string {
	var tm struct{ APIVersion, Kind string }
	if raw != nil {
		_ = jsonUnmarshal(raw.Raw, &tm)
	}
	return tm.APIVersion + "/" + tm.Kind
}

// decodeErr turns a decoding error into a field error at p, with the
// document's apiVersion/kind as value.
func decodeErr(p *field.Path, raw *runtime.RawExtension, err error) *field.Error {
	return field.Invalid(p, apiVersionKind(raw), err.Error())
}

// Shoot validates a Shoot of type metalkube; old is nil on create.
func (v *Validator) Shoot(shoot, old *gardencorev1beta1.Shoot) field.ErrorList {
	var errs field.ErrorList
	if shoot.Spec.Provider.Type != provider.Type {
		return nil
	}
	pp := field.NewPath("spec", "provider")

	ip := pp.Child("infrastructureConfig")
	if shoot.Spec.Provider.InfrastructureConfig == nil {
		errs = append(errs, field.Required(ip, "an InfrastructureConfig ("+v1alpha1.SchemeGroupVersion.String()+")"))
	} else if ic, err := v.Codec.InfrastructureConfig(shoot.Spec.Provider.InfrastructureConfig); err != nil {
		errs = append(errs, decodeErr(ip, shoot.Spec.Provider.InfrastructureConfig, err))
	} else {
		errs = append(errs, validation.InfrastructureConfig(ic, ip)...)
		if old != nil && old.Spec.Provider.InfrastructureConfig != nil {
			if oc, err := v.Codec.InfrastructureConfig(old.Spec.Provider.InfrastructureConfig); err == nil {
				errs = append(errs, validation.InfrastructureConfigUpdate(oc, ic, ip)...)
			}
		}
	}

	if raw := shoot.Spec.Provider.ControlPlaneConfig; raw != nil {
		cp := pp.Child("controlPlaneConfig")
		if cc, err := v.Codec.ControlPlaneConfig(raw); err != nil {
			errs = append(errs, decodeErr(cp, raw, err))
		} else {
			errs = append(errs, validation.ControlPlaneConfig(cc, cp)...)
		}
	}

	wp := pp.Child("workers")
	for i, w := range shoot.Spec.Provider.Workers {
		p := wp.Index(i)
		if w.ProviderConfig != nil {
			if wc, err := v.Codec.WorkerConfig(w.ProviderConfig); err != nil {
				errs = append(errs, decodeErr(p.Child("providerConfig"), w.ProviderConfig, err))
			} else {
				errs = append(errs, validation.WorkerConfig(wc, p.Child("providerConfig"))...)
			}
		}
		if len(w.Zones) == 0 {
			errs = append(errs, field.Required(p.Child("zones"), "bare-metal workers need at least one zone (partition)"))
		}
		if w.Volume != nil && w.Volume.Type != nil {
			errs = append(errs, field.Forbidden(p.Child("volume", "type"), "bare-metal servers have fixed disks; volume types are not supported"))
		}
	}
	if n := shoot.Spec.Networking; n != nil {
		np := field.NewPath("spec", "networking")
		for name, c := range map[string]*string{"nodes": n.Nodes, "pods": n.Pods, "services": n.Services} {
			if c != nil {
				errs = append(errs, validation.CIDR(*c, np.Child(name))...)
			}
		}
	}
	return errs
}

// CloudProfile validates a CloudProfile of type metalkube.
func (v *Validator) CloudProfile(cp *gardencorev1beta1.CloudProfile) field.ErrorList {
	if cp.Spec.Type != provider.Type {
		return nil
	}
	p := field.NewPath("spec", "providerConfig")
	if cp.Spec.ProviderConfig == nil {
		return field.ErrorList{field.Required(p, "a CloudProfileConfig ("+v1alpha1.SchemeGroupVersion.String()+") mapping machine images to backend images")}
	}
	cfg, err := v.Codec.CloudProfileConfig(cp.Spec.ProviderConfig)
	if err != nil {
		return field.ErrorList{decodeErr(p, cp.Spec.ProviderConfig, err)}
	}
	return validation.CloudProfileConfig(cfg, &cp.Spec, p)
}

// Keys of a metalkube cloudprovider Secret.
const (
	SecretKubeconfig   = cloudprovider.KeyKubeconfig
	SecretNamespace    = cloudprovider.KeyNamespace
	SecretMetalAPIURL  = cloudprovider.KeyMetalAPIURL
	SecretMetalAPIHMAC = cloudprovider.KeyMetalAPIHMAC
	SecretMetalAPIKey  = cloudprovider.KeyMetalAPIKey
)

// Secret validates a cloudprovider Secret: either a kubeconfig (ironcore) or
// a metal-api URL with an HMAC or key (metal-stack).
func (v *Validator) Secret(s *corev1.Secret) field.ErrorList {
	p := field.NewPath("data")
	kc, hasKC := s.Data[SecretKubeconfig]
	url, hasURL := s.Data[SecretMetalAPIURL]
	var errs field.ErrorList
	switch {
	case hasKC && hasURL:
		errs = append(errs, field.Forbidden(p.Key(SecretMetalAPIURL), "give either kubeconfig (ironcore) or metalAPIURL (metal-stack), not both"))
	case hasKC:
		if len(kc) == 0 {
			errs = append(errs, field.Required(p.Key(SecretKubeconfig), "empty"))
		} else if err := kubeconfig.Check(kc); err != nil {
			// The kubeconfig is loaded inside the seed: nothing in it may run
			// programs or read the seed's files (the same check runs where
			// the components load it).
			errs = append(errs, field.Forbidden(p.Key(SecretKubeconfig), err.Error()))
		}
	case hasURL:
		if len(url) == 0 {
			errs = append(errs, field.Required(p.Key(SecretMetalAPIURL), "empty"))
		}
		if len(s.Data[SecretMetalAPIHMAC]) == 0 && len(s.Data[SecretMetalAPIKey]) == 0 {
			errs = append(errs, field.Required(p.Key(SecretMetalAPIHMAC), "metal-api needs metalAPIHMac or metalAPIKey"))
		}
	default:
		errs = append(errs, field.Required(p.Key(SecretKubeconfig), fmt.Sprintf("need %s (ironcore) or %s (metal-stack)", SecretKubeconfig, SecretMetalAPIURL)))
	}
	if ns, ok := s.Data[SecretNamespace]; ok && len(ns) == 0 {
		errs = append(errs, field.Required(p.Key(SecretNamespace), "empty"))
	}
	return errs
}
