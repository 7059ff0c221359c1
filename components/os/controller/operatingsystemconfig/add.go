package operatingsystemconfig

import (
	"context"
	"fmt"

	"github.com/gardener/gardener/extensions/pkg/controller/operatingsystemconfig"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/os/apis/os/v1alpha1"
)

// AddOptions configure the controller.
type AddOptions struct {
	// Controller are the controller options (max concurrent reconciles, ...).
	Controller controller.Options
	// Types are the OSC types (spec.type) handled.
	Types []string
	// Formats maps an OSC type to its output format; DefaultFormat is used
	// for the others. A providerConfig's format overrides both.
	Formats       map[string]v1alpha1.Format
	DefaultFormat v1alpha1.Format
	// IgnoreOperationAnnotation reconciles on every generation change instead
	// of waiting for gardenlet's gardener.cloud/operation annotation.
	IgnoreOperationAnnotation bool
	// ExtensionClasses handled; empty means the shoot class.
	ExtensionClasses []extensionsv1alpha1.ExtensionClass
}

// DefaultTypes are the OSC types handled by default: the images bare-metal
// users boot.
func DefaultTypes() []string { return []string{"ubuntu", "debian", "flatcar", "gardenlinux"} }

// DefaultFormats are the default formats by type: Ignition for the images
// that boot with it on bare metal, cloud-init for the rest.
func DefaultFormats() map[string]v1alpha1.Format {
	return map[string]v1alpha1.Format{"flatcar": v1alpha1.FormatIgnition, "gardenlinux": v1alpha1.FormatIgnition}
}

// NewActuator returns the actuator on a manager: Secrets are read through the
// API reader (not cached: a seed holds many Secrets, few of them referenced).
func NewActuator(mgr manager.Manager, opts AddOptions) *Actuator {
	return &Actuator{
		Translator: &Translator{Secrets: mgr.GetAPIReader(), Formats: opts.Formats, DefaultFormat: opts.DefaultFormat},
		Secrets:    mgr.GetClient(),
	}
}

// AddToManager adds the OperatingSystemConfig controller to the manager. The
// manager's scheme must know extensions.gardener.cloud/v1alpha1.
func AddToManager(ctx context.Context, mgr manager.Manager, opts AddOptions) error {
	gvk := extensionsv1alpha1.SchemeGroupVersion.WithKind("OperatingSystemConfig")
	if !mgr.GetScheme().Recognizes(gvk) {
		return fmt.Errorf("add OperatingSystemConfig controller: the manager's scheme does not know %s", gvk)
	}
	if len(opts.Types) == 0 {
		return fmt.Errorf("add OperatingSystemConfig controller: no OSC types")
	}
	if opts.DefaultFormat == "" {
		opts.DefaultFormat = v1alpha1.FormatCloudInit
	}
	return operatingsystemconfig.Add(mgr, operatingsystemconfig.AddArgs{
		Actuator:          NewActuator(mgr, opts),
		ControllerOptions: opts.Controller,
		Predicates:        operatingsystemconfig.DefaultPredicates(ctx, mgr, opts.IgnoreOperationAnnotation),
		Types:             opts.Types,
		ExtensionClasses:  opts.ExtensionClasses,
	})
}
