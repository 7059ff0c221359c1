package operatingsystemconfig

import (
	"context"
	"fmt"

	"github.com/gardener/gardener/extensions/pkg/controller/operatingsystemconfig"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Actuator reconciles OperatingSystemConfigs for the extensions library.
//
// Reconcile and Restore are idempotent and deterministic: the same OSC and
// Secrets give the same user data. Delete removes the user-data Secret (its
// owner reference would let the garbage collector do it too; deleting it
// right away does not leave user data behind for a deleted OSC) and returns
// once the delete is accepted. Migrate keeps everything: the state is the OSC
// itself, and Restore renders it again on the new seed.
type Actuator struct {
	Translator *Translator
	// Secrets deletes the user-data Secret.
	Secrets client.Writer
}

var _ operatingsystemconfig.Actuator = (*Actuator)(nil)

// Reconcile translates the OSC: user data for the provision purpose,
// extension units and files for the reconcile purpose.
func (a *Actuator) Reconcile(ctx context.Context, log logr.Logger, osc *extensionsv1alpha1.OperatingSystemConfig) ([]byte, []extensionsv1alpha1.Unit, []extensionsv1alpha1.File, *extensionsv1alpha1.InPlaceUpdatesStatus, error) {
	res, err := a.Translator.Translate(ctx, osc)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	log.V(1).Info("Translated OperatingSystemConfig", "purpose", osc.Spec.Purpose, "format", res.Format,
		"userDataBytes", len(res.UserData), "extensionUnits", len(res.ExtensionUnits), "extensionFiles", len(res.ExtensionFiles))
	return res.UserData, res.ExtensionUnits, res.ExtensionFiles, nil, nil
}

// Restore renders the OSC again, as Reconcile.
func (a *Actuator) Restore(ctx context.Context, log logr.Logger, osc *extensionsv1alpha1.OperatingSystemConfig) ([]byte, []extensionsv1alpha1.Unit, []extensionsv1alpha1.File, *extensionsv1alpha1.InPlaceUpdatesStatus, error) {
	return a.Reconcile(ctx, log, osc)
}

// Delete removes the user-data Secret.
func (a *Actuator) Delete(ctx context.Context, log logr.Logger, osc *extensionsv1alpha1.OperatingSystemConfig) error {
	meta := operatingsystemconfig.SecretObjectMetaForConfig(osc)
	if err := client.IgnoreNotFound(a.Secrets.Delete(ctx, &corev1.Secret{ObjectMeta: meta})); err != nil {
		return fmt.Errorf("delete user-data secret %s/%s: %w", meta.Namespace, meta.Name, err)
	}
	log.V(1).Info("Deleted user-data secret", "secret", client.ObjectKey{Namespace: meta.Namespace, Name: meta.Name})
	return nil
}

// ForceDelete is Delete: it does not wait for anything.
func (a *Actuator) ForceDelete(ctx context.Context, log logr.Logger, osc *extensionsv1alpha1.OperatingSystemConfig) error {
	return a.Delete(ctx, log, osc)
}

// Migrate keeps the user-data Secret; the namespace goes with the shoot.
func (a *Actuator) Migrate(context.Context, logr.Logger, *extensionsv1alpha1.OperatingSystemConfig) error {
	return nil
}
