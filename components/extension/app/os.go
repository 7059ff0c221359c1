package app

import (
	extensionscmdcontroller "github.com/gardener/gardener/extensions/pkg/controller/cmd"
)

// ControllerOperatingSystemConfig is the name of the OperatingSystemConfig
// controller (components/os).
const ControllerOperatingSystemConfig = "operatingsystemconfig"

func osSwitches(*Config) []extensionscmdcontroller.NameToAddToManagerFunc { return nil }
