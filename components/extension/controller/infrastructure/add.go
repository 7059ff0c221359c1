package infrastructure

import (
	"context"

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
	// Backend returns a shoot's bare-metal backend; nil: ShootBackend, the
	// shoot's cloudprovider Secret.
	Backend BackendFunc
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
	cdc := codec.New()
	be := opts.Backend
	if be == nil {
		// Secrets are read from the API server (the manager caches none).
		be = ShootBackend(mgr.GetAPIReader(), cdc)
	}
	fw := opts.Firewalls
	if fw == nil {
		fw = ShootFirewallReader{Shoot: func(ctx context.Context, namespace string) (client.Reader, error) {
			_, c, err := util.NewClientForShoot(ctx, mgr.GetClient(), namespace, client.Options{}, extensionsconfigv1alpha1.RESTOptions{})
			return c, err
		}}
	}
	return infrastructure.Add(mgr, infrastructure.AddArgs{
		Actuator:          &Actuator{Client: mgr.GetClient(), Backend: be, Codec: cdc, Firewalls: fw},
		ControllerOptions: opts.Controller,
		Predicates:        infrastructure.DefaultPredicates(ctx, mgr, opts.IgnoreOperationAnnotation),
		Type:              provider.Type,
		ExtensionClasses:  opts.ExtensionClasses,
	})
}
