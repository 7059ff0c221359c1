package infrastructure

import (
	"context"
	"fmt"

	extensionsconfigv1alpha1 "github.com/gardener/gardener/extensions/pkg/apis/config/v1alpha1"
	"github.com/gardener/gardener/extensions/pkg/controller/infrastructure"
	"github.com/gardener/gardener/extensions/pkg/util"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/provider"
)

// ControllerName is the name the controller is switched on and off by.
const ControllerName = "infrastructure"

// AddOptions configure the controller.
type AddOptions struct {
	// Metal is the bare-metal backend.
	Metal Backend
	// Controller are the controller options.
	Controller controller.Options
	// IgnoreOperationAnnotation reconciles on every change instead of waiting
	// for gardenlet's operation annotation.
	IgnoreOperationAnnotation bool
	// Firewalls reads the firewall agents' status; default: from the shoot
	// through the seed namespace's gardener Secret.
	Firewalls FirewallReader
	// ExtensionClasses handled; empty means the shoot class.
	ExtensionClasses []extensionsv1alpha1.ExtensionClass
}

// AddToManager adds the Infrastructure controller to the manager.
func AddToManager(ctx context.Context, mgr manager.Manager, opts AddOptions) error {
	if opts.Metal == nil {
		return fmt.Errorf("add %s controller: no bare-metal backend", ControllerName)
	}
	fw := opts.Firewalls
	if fw == nil {
		fw = ShootFirewallReader{Shoot: func(ctx context.Context, namespace string) (client.Reader, error) {
			_, c, err := util.NewClientForShoot(ctx, mgr.GetClient(), namespace, client.Options{}, extensionsconfigv1alpha1.RESTOptions{})
			return c, err
		}}
	}
	return infrastructure.Add(mgr, infrastructure.AddArgs{
		Actuator:          &Actuator{Client: mgr.GetClient(), Metal: opts.Metal, Codec: codec.New(), Firewalls: fw},
		ControllerOptions: opts.Controller,
		Predicates:        infrastructure.DefaultPredicates(ctx, mgr, opts.IgnoreOperationAnnotation),
		Type:              provider.Type,
		ExtensionClasses:  opts.ExtensionClasses,
	})
}
