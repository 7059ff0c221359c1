package worker

import (
	"context"

	"github.com/gardener/gardener/extensions/pkg/controller/worker"
	"github.com/gardener/gardener/extensions/pkg/controller/worker/genericactuator"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/provider"
)

// ControllerName is the name the controller is switched on and off by.
const ControllerName = "worker"

// AddOptions configure the controller.
type AddOptions struct {
	// Controller are the controller options.
	Controller controller.Options
	// IgnoreOperationAnnotation reconciles on every change instead of waiting
	// for gardenlet's operation annotation.
	IgnoreOperationAnnotation bool
	// ExtensionClasses handled; empty means the shoot class.
	ExtensionClasses []extensionsv1alpha1.ExtensionClass
}

// AddToManager adds the Worker controller to the manager. The manager's
// scheme must know machine.sapcloud.io/v1alpha1 and extensions.gardener.cloud.
func AddToManager(ctx context.Context, mgr manager.Manager, opts AddOptions) error {
	factory := &DelegateFactory{Client: mgr.GetClient(), Codec: codec.New()}
	return worker.Add(ctx, mgr, worker.AddArgs{
		Actuator:          genericactuator.NewActuator(mgr, nil, factory, nil),
		ControllerOptions: opts.Controller,
		Predicates:        worker.DefaultPredicates(ctx, mgr, opts.IgnoreOperationAnnotation),
		Type:              provider.Type,
		ExtensionClasses:  opts.ExtensionClasses,
	})
}
