package app

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	"github.com/spf13/pflag"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	"github.com/metalkube/metalkube/components/os/apis/os/v1alpha1"
	"github.com/metalkube/metalkube/components/os/controller/operatingsystemconfig"
	"github.com/metalkube/metalkube/shared/component"
)

// Name is the component's name: its command, logger and lease (metalkube-os).
const Name = "os"

// Flag names of the controller.
const (
	FlagTypes                     = "types"
	FlagFormats                   = "formats"
	FlagDefaultFormat             = "default-format"
	FlagMaxConcurrentReconciles   = "max-concurrent-reconciles"
	FlagIgnoreOperationAnnotation = "ignore-operation-annotation"
	FlagExtensionClasses          = "extension-classes"
)

// Options are the flags of `metalkube os`: the runtime's and the
// controller's.
type Options struct {
	Runtime    *component.Options
	Controller ControllerOptions
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{Runtime: component.NewOptions(Name), Controller: *NewControllerOptions()}
}

// AddFlags binds the flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.Runtime.AddFlags(fs)
	o.Controller.AddFlags(fs)
}

// Validate checks the flags.
func (o *Options) Validate() error {
	return errors.Join(o.Runtime.Validate(), o.Controller.Validate())
}

// Config is what the command runs with; tests build it directly.
type Config struct {
	Runtime *component.Config
	Add     operatingsystemconfig.AddOptions
}

// Complete validates the options and builds the configuration.
func (o *Options) Complete() (*Config, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	rc, err := o.Runtime.Complete()
	if err != nil {
		return nil, err
	}
	add, err := o.Controller.Complete()
	if err != nil {
		return nil, err
	}
	return &Config{Runtime: rc, Add: add}, nil
}

// ControllerOptions are the flags of the OperatingSystemConfig controller;
// the extension component binds them too when it registers the actuator.
type ControllerOptions struct {
	Types                     []string
	Formats                   map[string]string
	DefaultFormat             string
	MaxConcurrentReconciles   int
	IgnoreOperationAnnotation bool
	ExtensionClasses          []string
}

// NewControllerOptions returns the defaults.
func NewControllerOptions() *ControllerOptions {
	return &ControllerOptions{
		Types:                   operatingsystemconfig.DefaultTypes(),
		DefaultFormat:           string(v1alpha1.FormatCloudInit),
		MaxConcurrentReconciles: 5,
		ExtensionClasses:        []string{string(extensionsv1alpha1.ExtensionClassShoot)},
	}
}

// AddFlags binds the flags.
func (o *ControllerOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.Types, FlagTypes, o.Types, "OperatingSystemConfig types (spec.type) to handle")
	var defaults []string
	for t, f := range operatingsystemconfig.DefaultFormats() {
		defaults = append(defaults, t+"="+string(f))
	}
	slices.Sort(defaults)
	fs.StringToStringVar(&o.Formats, FlagFormats, o.Formats, "user data format per OSC type, type=ignition|cloud-init, on top of the defaults "+
		strings.Join(defaults, ",")+"; a providerConfig's format overrides it")
	fs.StringVar(&o.DefaultFormat, FlagDefaultFormat, o.DefaultFormat, "user data format of the types --formats does not list: ignition|cloud-init")
	fs.IntVar(&o.MaxConcurrentReconciles, FlagMaxConcurrentReconciles, o.MaxConcurrentReconciles, "OperatingSystemConfigs reconciled in parallel")
	fs.BoolVar(&o.IgnoreOperationAnnotation, FlagIgnoreOperationAnnotation, o.IgnoreOperationAnnotation, "reconcile on every spec change instead of waiting for gardenlet's gardener.cloud/operation annotation")
	fs.StringSliceVar(&o.ExtensionClasses, FlagExtensionClasses, o.ExtensionClasses, "extension classes to handle: shoot|seed|garden")
}

// Validate checks the flags.
func (o *ControllerOptions) Validate() error {
	var errs []error
	formats := func(f string) bool { return slices.Contains(v1alpha1.Formats(), v1alpha1.Format(f)) }
	valid := fmt.Sprint(v1alpha1.Formats())
	if len(o.Types) == 0 {
		errs = append(errs, fmt.Errorf("--%s is empty", FlagTypes))
	}
	for _, t := range o.Types {
		if strings.TrimSpace(t) == "" {
			errs = append(errs, fmt.Errorf("--%s has an empty type", FlagTypes))
		}
	}
	for t, f := range o.Formats {
		if !formats(f) {
			errs = append(errs, fmt.Errorf("--%s: type %s has format %q, want one of %s", FlagFormats, t, f, valid))
		}
	}
	if !formats(o.DefaultFormat) {
		errs = append(errs, fmt.Errorf("--%s=%q: want one of %s", FlagDefaultFormat, o.DefaultFormat, valid))
	}
	if o.MaxConcurrentReconciles < 1 {
		errs = append(errs, fmt.Errorf("--%s=%d: must be at least 1", FlagMaxConcurrentReconciles, o.MaxConcurrentReconciles))
	}
	for _, c := range o.ExtensionClasses {
		switch extensionsv1alpha1.ExtensionClass(c) {
		case extensionsv1alpha1.ExtensionClassShoot, extensionsv1alpha1.ExtensionClassSeed, extensionsv1alpha1.ExtensionClassGarden:
		default:
			errs = append(errs, fmt.Errorf("--%s: unknown class %q, want shoot, seed or garden", FlagExtensionClasses, c))
		}
	}
	return errors.Join(errs...)
}

// Complete returns the controller's AddOptions; call Validate first.
func (o *ControllerOptions) Complete() (operatingsystemconfig.AddOptions, error) {
	if err := o.Validate(); err != nil {
		return operatingsystemconfig.AddOptions{}, err
	}
	add := operatingsystemconfig.AddOptions{
		Controller:                controller.Options{MaxConcurrentReconciles: o.MaxConcurrentReconciles},
		Types:                     slices.Clone(o.Types),
		Formats:                   operatingsystemconfig.DefaultFormats(),
		DefaultFormat:             v1alpha1.Format(o.DefaultFormat),
		IgnoreOperationAnnotation: o.IgnoreOperationAnnotation,
	}
	for t, f := range o.Formats {
		add.Formats[t] = v1alpha1.Format(f)
	}
	for _, c := range o.ExtensionClasses {
		add.ExtensionClasses = append(add.ExtensionClasses, extensionsv1alpha1.ExtensionClass(c))
	}
	return add, nil
}
