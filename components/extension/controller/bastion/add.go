package bastion

import (
	"context"

	"github.com/gardener/gardener/extensions/pkg/controller/bastion"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/provider"
)

// ControllerName is the name the controller is switched on and off by.
const ControllerName = "bastion"

// AddOptions configure the controller.
type AddOptions struct {
	// Backend returns a Bastion's shoot's bare-metal backend; nil:
	// ShootBackend, the shoot's cloudprovider Secret.
	Backend BackendFunc
	// Controller are the controller options.
	Controller controller.Options
	// IgnoreOperationAnnotation reconciles on every change instead of waiting
	// for gardenlet's operation annotation.
	IgnoreOperationAnnotation bool
	// ExtensionClasses handled; empty means the shoot class.
	ExtensionClasses []extensionsv1alpha1.ExtensionClass
}

// AddToManager adds the Bastion controller to the manager.
func AddToManager(_ context.Context, mgr manager.Manager, opts AddOptions) error {
	cdc := codec.New()
	be := opts.Backend
	if be == nil {
		// Secrets are read from the API server (the manager caches none).
		be = ShootBackend(mgr.GetAPIReader(), cdc)
	}
	return bastion.Add(mgr, bastion.AddArgs{
		Actuator:          &Actuator{Client: mgr.GetClient(), Backend: be, Codec: cdc},
		ControllerOptions: opts.Controller,
		Predicates:        bastion.DefaultPredicates(opts.IgnoreOperationAnnotation),
		Type:              provider.Type,
		ExtensionClasses:  opts.ExtensionClasses,
	})
}
