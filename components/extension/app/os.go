package app

import (
	"context"

	extensionscmdcontroller "github.com/gardener/gardener/extensions/pkg/controller/cmd"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/os/controller/operatingsystemconfig"
)

// ControllerOperatingSystemConfig is the name of the OperatingSystemConfig
// controller of components/os (Ignition / cloud-init for the OSC types
// operatingsystemconfig.DefaultTypes).
const ControllerOperatingSystemConfig = "operatingsystemconfig"

func osSwitches(cfg *Config) []extensionscmdcontroller.NameToAddToManagerFunc {
	return []extensionscmdcontroller.NameToAddToManagerFunc{
		extensionscmdcontroller.Switch(ControllerOperatingSystemConfig, func(ctx context.Context, mgr manager.Manager) error {
			return operatingsystemconfig.AddToManager(ctx, mgr, operatingsystemconfig.AddOptions{
				Controller:                controller.Options{MaxConcurrentReconciles: cfg.Controllers.MaxConcurrentReconciles},
				Types:                     operatingsystemconfig.DefaultTypes(),
				Formats:                   operatingsystemconfig.DefaultFormats(),
				IgnoreOperationAnnotation: cfg.Controllers.IgnoreOperationAnnotation,
			})
		}),
	}
}
