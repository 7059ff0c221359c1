package controlplane

import (
	"context"

	"github.com/gardener/gardener/extensions/pkg/controller/controlplane"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/provider"
	"github.com/metalkube/metalkube/shared/version"
)

// ControllerName is the name the controller is switched on and off by.
const ControllerName = "controlplane"

// AddOptions configure the controller.
type AddOptions struct {
	// Image runs `metalkube ccm`; default version.Image().
	Image string
	// Controller are the controller options.
	Controller controller.Options
	// IgnoreOperationAnnotation reconciles on every change.
	IgnoreOperationAnnotation bool
	// ExtensionClasses handled; empty means the shoot class.
	ExtensionClasses []extensionsv1alpha1.ExtensionClass
}

// AddToManager adds the ControlPlane controller to the manager.
func AddToManager(ctx context.Context, mgr manager.Manager, opts AddOptions) error {
	if opts.Image == "" {
		opts.Image = version.Image()
	}
	return controlplane.Add(mgr, controlplane.AddArgs{
		Actuator:          &Actuator{Client: mgr.GetClient(), Codec: codec.New(), Image: opts.Image},
		ControllerOptions: opts.Controller,
		Predicates:        controlplane.DefaultPredicates(ctx, mgr, opts.IgnoreOperationAnnotation),
		Type:              provider.Type,
		ExtensionClasses:  opts.ExtensionClasses,
	})
}
