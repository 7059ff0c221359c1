package app

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/metalkube/metalkube/components/csi/driver"
	"github.com/metalkube/metalkube/components/csi/lvm"
	"github.com/metalkube/metalkube/shared/component"
)

// Name is the component's name: its command and logger.
const Name = "csi"

// Flag names.
const (
	FlagEndpoint    = "csi-endpoint"
	FlagNodeID      = "node-id"
	FlagDriverName  = "driver-name"
	FlagVolumeGroup = "volume-group"
	FlagDevices     = "devices"
	FlagActivation  = "activation"
	FlagRole        = "role"
)

// Roles: what one `metalkube csi` process serves.
const (
	// RoleNode is the node plugin: the node's volume group, all three
	// services (the external-provisioner beside it in node-deployment mode).
	RoleNode = "node"
	// RoleController is the cluster-wide half the external-resizer of the
	// controller Deployment talks to: no volume group (driver.Central).
	RoleController = "controller"
)

// Defaults.
const (
	DefaultEndpoint    = "unix:///csi/csi.sock"
	DefaultVolumeGroup = "csi-lvm"
	ActivationAuto     = "auto"
)

// Options are the flags of `metalkube csi`.
type Options struct {
	Endpoint    string
	NodeID      string
	DriverName  string
	VolumeGroup string
	Devices     []string
	Activation  string
	Role        string
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{Endpoint: DefaultEndpoint, DriverName: driver.DefaultName, VolumeGroup: DefaultVolumeGroup, Activation: ActivationAuto, Role: RoleNode}
}

// AddFlags binds every flag.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Endpoint, FlagEndpoint, o.Endpoint, "unix socket the CSI services are served on (unix:///path or /path)")
	fs.StringVar(&o.NodeID, FlagNodeID, o.NodeID, "this node's name, the volumes' topology; empty: the host name")
	fs.StringVar(&o.DriverName, FlagDriverName, o.DriverName, "the driver's name (CSIDriver, StorageClass provisioner)")
	fs.StringVar(&o.VolumeGroup, FlagVolumeGroup, o.VolumeGroup, "LVM volume group the volumes are made in; created from --"+FlagDevices+" when missing")
	fs.StringSliceVar(&o.Devices, FlagDevices, o.Devices, "glob patterns of the disks the volume group is made of (/dev/nvme*n1,/dev/sd*)")
	fs.StringVar(&o.Role, FlagRole, o.Role, "what this process serves: node (the node plugin on the node's volume group) or controller (the cluster-wide half for the external-resizer; needs no --"+FlagDevices+")")
	fs.StringVar(&o.Activation, FlagActivation, o.Activation, "how volumes become block devices: dm (device-mapper), loop (kernels without device-mapper; linear volumes, contiguous) or auto")
}

// Validate checks the options; every error names the flag and the value.
func (o *Options) Validate() error {
	var errs []error
	if o.Endpoint == "" {
		errs = append(errs, fmt.Errorf("--%s is empty", FlagEndpoint))
	}
	if o.DriverName == "" {
		errs = append(errs, fmt.Errorf("--%s is empty", FlagDriverName))
	}
	if !lvm.ValidName(o.VolumeGroup) {
		errs = append(errs, fmt.Errorf("--%s=%q: not a valid LVM name", FlagVolumeGroup, o.VolumeGroup))
	}
	switch o.Role {
	case RoleNode:
		if len(o.Devices) == 0 {
			errs = append(errs, fmt.Errorf("--%s is required with --%s=%s", FlagDevices, FlagRole, RoleNode))
		}
	case RoleController:
	default:
		errs = append(errs, fmt.Errorf("--%s=%q: want %s or %s", FlagRole, o.Role, RoleNode, RoleController))
	}
	switch o.Activation {
	case ActivationAuto, string(lvm.ActivationDM), string(lvm.ActivationLoop):
	default:
		errs = append(errs, fmt.Errorf("--%s=%q: want %s, %s or %s", FlagActivation, o.Activation, ActivationAuto, lvm.ActivationDM, lvm.ActivationLoop))
	}
	return errors.Join(errs...)
}

// Config is what `metalkube csi` runs with; tests build it directly.
type Config struct {
	Endpoint string
	// Central: serve the cluster-wide half (RoleController); Driver.Volumes
	// is nil then.
	Central bool
	Driver  driver.Config
}

// Complete validates the options and opens (or creates) the volume group.
func (o *Options) Complete(ctx context.Context) (*Config, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Role == RoleController {
		return &Config{Endpoint: o.Endpoint, Central: true, Driver: driver.Config{Name: o.DriverName}}, nil
	}
	node := o.NodeID
	if node == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("--%s is empty and the host name is unknown: %w", FlagNodeID, err)
		}
		node = h
	}
	act := lvm.Activation(o.Activation)
	if o.Activation == ActivationAuto {
		act = ""
	}
	component.Logger(ctx, Name).V(1).Info("Opening volume group", "volumeGroup", o.VolumeGroup, "devices", o.Devices, "activation", o.Activation, "node", node)
	vg, err := lvm.Open(ctx, lvm.Config{VG: o.VolumeGroup, Devices: o.Devices, Activation: act})
	if err != nil {
		return nil, fmt.Errorf("--%s=%s --%s=%v: %w", FlagVolumeGroup, o.VolumeGroup, FlagDevices, o.Devices, err)
	}
	return &Config{Endpoint: o.Endpoint, Driver: driver.Config{Name: o.DriverName, NodeID: node, Volumes: vg}}, nil
}

// NewCommand returns `metalkube csi`.
func NewCommand(context.Context) *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   Name,
		Short: "Serve local LVM volumes of this node as a CSI driver (Identity, Controller, Node) on a unix socket",
		Long: `csi serves this node's local disks as dynamically provisioned, capacity-tracked volumes:
the volume group --volume-group, made from the disks --devices matches when it is missing,
holds one logical volume per PersistentVolume, as ext4, xfs or a raw block device. It runs on
every node (the chart's DaemonSet) next to the upstream CSI sidecars; PVCs ask for it with
storageClassName: csi-lvm, as metal-stack's csi-lvm users write them. With --role=controller
it is the driver's cluster-wide half instead (no disks; the chart's controller Deployment),
which the external-resizer talks to.`,
		Example: `  # On a node, its NVMe disks making up the volume group csi-lvm:
  metalkube csi --csi-endpoint=unix:///csi/csi.sock --devices='/dev/nvme*n1' --node-id=$NODE_NAME`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.Complete(cmd.Context())
			if err != nil {
				return err
			}
			return Run(cmd.Context(), cfg)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// Run serves the driver until ctx ends.
func Run(ctx context.Context, cfg *Config) error {
	dc := cfg.Driver
	dc.Log = component.Logger(ctx, Name)
	if cfg.Central {
		return driver.NewCentral(dc.Name, dc.Version, dc.Log).Serve(ctx, cfg.Endpoint)
	}
	d, err := driver.New(dc)
	if err != nil {
		return err
	}
	return d.Serve(ctx, cfg.Endpoint)
}
