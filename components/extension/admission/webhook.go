package admission

import (
	"context"
	"encoding/json"
	"fmt"

	extensionswebhook "github.com/gardener/gardener/extensions/pkg/webhook"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
	"github.com/metalkube/metalkube/components/extension/provider"
)

var jsonUnmarshal = json.Unmarshal

// Webhook names, each switchable in `metalkube admission`.
const (
	ValidatorName       = "validator"
	SecretValidatorName = "secrets-validator"
	MutatorName         = "mutator"
)

// Label selectors gardener sets on objects of a provider type.
const (
	labelProvider      = "provider.extensions.gardener.cloud/" + provider.Type
	labelShootProvider = "provider.shoot.gardener.cloud/" + provider.Type
)

type shootValidator struct{ v *Validator }

func (s shootValidator) Validate(_ context.Context, newObj, oldObj client.Object) error {
	shoot, ok := newObj.(*gardencorev1beta1.Shoot)
	if !ok {
		return fmt.Errorf("wrong object type %T", newObj)
	}
	var old *gardencorev1beta1.Shoot
	if oldObj != nil {
		if old, ok = oldObj.(*gardencorev1beta1.Shoot); !ok {
			return fmt.Errorf("wrong object type %T for old object", oldObj)
		}
	}
	return s.v.Shoot(shoot, old).ToAggregate()
}

type cloudProfileValidator struct{ v *Validator }

func (c cloudProfileValidator) Validate(_ context.Context, newObj, _ client.Object) error {
	cp, ok := newObj.(*gardencorev1beta1.CloudProfile)
	if !ok {
		return fmt.Errorf("wrong object type %T", newObj)
	}
	return c.v.CloudProfile(cp).ToAggregate()
}

type secretValidator struct{ v *Validator }

func (s secretValidator) Validate(_ context.Context, newObj, _ client.Object) error {
	secret, ok := newObj.(*corev1.Secret)
	if !ok {
		return fmt.Errorf("wrong object type %T", newObj)
	}
	return s.v.Secret(secret).ToAggregate()
}

// NewValidatingWebhook returns the webhook validating Shoots and
// CloudProfiles of type metalkube.
func NewValidatingWebhook(mgr manager.Manager) (*extensionswebhook.Webhook, error) {
	v := NewValidator()
	return extensionswebhook.New(mgr, extensionswebhook.Args{
		Name: ValidatorName,
		Path: "/webhooks/validate",
		Validators: map[extensionswebhook.Validator][]extensionswebhook.Type{
			shootValidator{v}:        {{Obj: &gardencorev1beta1.Shoot{}}},
			cloudProfileValidator{v}: {{Obj: &gardencorev1beta1.CloudProfile{}}},
		},
		Target:         extensionswebhook.TargetSeed,
		ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelProvider: "true"}},
	})
}

// NewSecretWebhook returns the webhook validating cloudprovider Secrets used
// by Shoots of type metalkube.
func NewSecretWebhook(mgr manager.Manager) (*extensionswebhook.Webhook, error) {
	return extensionswebhook.New(mgr, extensionswebhook.Args{
		Name: SecretValidatorName,
		Path: "/webhooks/validate/secrets",
		Validators: map[extensionswebhook.Validator][]extensionswebhook.Type{
			secretValidator{NewValidator()}: {{Obj: &corev1.Secret{}}},
		},
		Target:         extensionswebhook.TargetSeed,
		ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelShootProvider: "true"}},
	})
}

// ShootMutator fills in the defaulted provider documents of a Shoot, so that
// what the extension will use is visible in the garden.
type ShootMutator struct{ Codec *codec.Codec }

// Mutate defaults spec.provider.controlPlaneConfig and infrastructureConfig.
func (m ShootMutator) Mutate(_ context.Context, newObj, _ client.Object) error {
	shoot, ok := newObj.(*gardencorev1beta1.Shoot)
	if !ok {
		return fmt.Errorf("wrong object type %T", newObj)
	}
	return DefaultShoot(m.Codec, shoot)
}

// DefaultShoot writes defaulted provider documents into a Shoot of type
// metalkube; documents that do not decode are left for the validator.
func DefaultShoot(c *codec.Codec, shoot *gardencorev1beta1.Shoot) error {
	if shoot.Spec.Provider.Type != provider.Type || shoot.DeletionTimestamp != nil {
		return nil
	}
	if cp, err := c.ControlPlaneConfig(shoot.Spec.Provider.ControlPlaneConfig); err == nil {
		raw, err := codec.Encode(cp, v1alpha1.KindControlPlaneConfig)
		if err != nil {
			return err
		}
		shoot.Spec.Provider.ControlPlaneConfig = raw
	}
	if ic, err := c.InfrastructureConfig(shoot.Spec.Provider.InfrastructureConfig); err == nil {
		raw, err := codec.Encode(ic, v1alpha1.KindInfrastructureConfig)
		if err != nil {
			return err
		}
		shoot.Spec.Provider.InfrastructureConfig = raw
	}
	return nil
}

// NewMutatingWebhook returns the webhook defaulting Shoots of type metalkube.
func NewMutatingWebhook(mgr manager.Manager) (*extensionswebhook.Webhook, error) {
	return extensionswebhook.New(mgr, extensionswebhook.Args{
		Name: MutatorName,
		Path: "/webhooks/mutate",
		Mutators: map[extensionswebhook.Mutator][]extensionswebhook.Type{
			ShootMutator{Codec: codec.New()}: {{Obj: &gardencorev1beta1.Shoot{}}},
		},
		Target:         extensionswebhook.TargetSeed,
		ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelProvider: "true"}},
	})
}
