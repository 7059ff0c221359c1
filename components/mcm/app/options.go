package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	mcmoptions "github.com/gardener/machine-controller-manager/pkg/util/provider/app/options"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"

	"github.com/metalkube/metalkube/shared/component"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/options"
)

// Driver flag names.
const (
	FlagInitializeTimeout = "machine-initialize-timeout"
	FlagReleaseTimeout    = "machine-release-timeout"
	FlagCSIDriver         = "csi-driver"
)

// Options are the flags of `metalkube mcm`.
type Options struct {
	// MCM are machine-controller-manager's provider app options.
	MCM *mcmoptions.MCServer
	// Backend selects the bare-metal backend.
	Backend options.Backend
	// InitializeTimeout bounds one InitializeMachine call's wait for a server to run.
	InitializeTimeout time.Duration
	// ReleaseTimeout bounds one DeleteMachine call's wait for a server's release.
	ReleaseTimeout time.Duration
	// CSIDrivers whose volumes are reported to drain; empty: all.
	CSIDrivers []string
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{MCM: mcmoptions.NewMCServer(), InitializeTimeout: 10 * time.Second, ReleaseTimeout: 10 * time.Second}
}

// AddFlags binds every flag: machine-controller-manager's and metalkube's.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.MCM.AddFlags(fs)
	o.AddOwnFlags(fs)
}

// AddOwnFlags binds metalkube's flags only: the backend and the driver's.
func (o *Options) AddOwnFlags(fs *pflag.FlagSet) {
	o.Backend.AddFlags(fs)
	fs.DurationVar(&o.InitializeTimeout, FlagInitializeTimeout, o.InitializeTimeout, "how long one InitializeMachine call waits for a server to run before machine-controller-manager asks again")
	fs.DurationVar(&o.ReleaseTimeout, FlagReleaseTimeout, o.ReleaseTimeout, "how long one DeleteMachine call waits for the backend to release a server before machine-controller-manager asks again")
	fs.StringSliceVar(&o.CSIDrivers, FlagCSIDriver, o.CSIDrivers, "CSI driver whose volumes are waited for when draining a node (repeatable; default: all)")
}

// Config is what `metalkube mcm` runs with; tests build it directly.
type Config struct {
	// MCM are machine-controller-manager's provider app options; its
	// kubeconfig flags are already resolved into Control and Target.
	MCM *mcmoptions.MCServer
	// Control is the cluster holding the Machines; Target is the cluster of
	// their Nodes (nil: none).
	Control, Target *rest.Config
	// Metal is the bare-metal backend.
	Metal metal.Client
	// Driver settings; see the flags.
	InitializeTimeout, ReleaseTimeout time.Duration
	CSIDrivers                        []string
}

// Complete validates the options, loads the kubeconfigs and builds the
// backend client (waiting while the backend is unavailable).
func (o *Options) Complete(ctx context.Context) (*Config, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	control, target, err := o.restConfigs()
	if err != nil {
		return nil, err
	}
	c, err := component.NewBackend(ctx, Name, &o.Backend)
	if err != nil {
		return nil, err
	}
	return &Config{MCM: o.MCM, Control: control, Target: target, Metal: c,
		InitializeTimeout: o.InitializeTimeout, ReleaseTimeout: o.ReleaseTimeout, CSIDrivers: o.CSIDrivers}, nil
}

// Validate checks the options; errors name the flags.
func (o *Options) Validate() error {
	var errs []error
	if err := o.MCM.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := o.Backend.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.InitializeTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--%s=%s: must be positive", FlagInitializeTimeout, o.InitializeTimeout))
	}
	if o.ReleaseTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--%s=%s: must be positive", FlagReleaseTimeout, o.ReleaseTimeout))
	}
	return errors.Join(errs...)
}
