package driver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metalkube/metalkube/components/csi/lvm"
)

// DefaultName is the driver's name (CSIDriver object, provisioner of the
// StorageClass).
const DefaultName = "lvm.csi.metalkube.io"

// TopologyKey is the topology segment that says which node a volume lives on.
const TopologyKey = "topology.lvm.csi.metalkube.io/node"

// Volume parameters (StorageClass parameters): type, the volume's layout,
// csi-lvm's and csi-driver-lvm's names for them.
const (
	ParamType   = "type"
	TypeLinear  = lvm.LayoutLinear
	TypeStriped = lvm.LayoutStriped
	TypeMirror  = lvm.LayoutMirror
)

// tagManaged marks the logical volumes this driver made; others in the same
// volume group are not listed and never touched.
const tagManaged = "metalkube.io/csi"

// Volumes is what the driver needs of a volume group.
type Volumes interface {
	Name() string
	Info(ctx context.Context) (lvm.Info, error)
	List(ctx context.Context) ([]lvm.LV, error)
	Get(ctx context.Context, name string) (lvm.LV, error)
	ExtentSize(ctx context.Context) (int64, error)
	Create(ctx context.Context, name string, size int64, l lvm.Layout, tags []string) (lvm.LV, error)
	Finish(ctx context.Context, lv lvm.LV, tags []string) (lvm.LV, error)
	CheckLayout(l lvm.Layout) error
	Extend(ctx context.Context, name string, size int64) (int64, error)
	Remove(ctx context.Context, lv lvm.LV) error
	RemoveTagged(ctx context.Context, name string, tags []string) (bool, error)
	Activate(ctx context.Context, name string) (string, error)
	Deactivate(ctx context.Context, name string) error
}

var _ Volumes = (*lvm.VG)(nil)

// Config configures the driver.
type Config struct {
	// Name is the driver's name; empty: DefaultName.
	Name string
	// Version is reported by GetPluginInfo.
	Version string
	// NodeID is this node's name; volumes made here carry it as topology.
	NodeID string
	// Volumes is the node's volume group.
	Volumes Volumes
	// Log receives one line per change.
	Log logr.Logger
}

// Driver serves the CSI services.
type Driver struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer
	csi.UnimplementedNodeServer

	name, version, node string
	vg                  Volumes
	log                 logr.Logger
	mounter             mounter
}

var (
	_ csi.IdentityServer   = (*Driver)(nil)
	_ csi.ControllerServer = (*Driver)(nil)
	_ csi.NodeServer       = (*Driver)(nil)
)

// New returns the driver; it checks the configuration.
func New(cfg Config) (*Driver, error) {
	if cfg.NodeID == "" {
		return nil, errors.New("driver: node ID is empty")
	}
	if cfg.Volumes == nil {
		return nil, errors.New("driver: no volume group")
	}
	name := cfg.Name
	if name == "" {
		name = DefaultName
	}
	return &Driver{name: name, version: cfg.Version, node: cfg.NodeID, vg: cfg.Volumes, log: cfg.Log, mounter: mounter{}}, nil
}

// Serve serves the driver on the unix socket at path (a stale socket file is
// replaced) until ctx ends.
func (d *Driver) Serve(ctx context.Context, path string) error {
	d.log.Info("Serving CSI", "endpoint", path, "driver", d.name, "node", d.node, "volumeGroup", d.vg.Name())
	return serve(ctx, path, d.log, func(s *grpc.Server) {
		csi.RegisterIdentityServer(s, d)
		csi.RegisterControllerServer(s, d)
		csi.RegisterNodeServer(s, d)
	})
}

// volumeID returns the logical volume name for a CSI volume name.
func volumeID(name string) string {
	if lvm.ValidName(name) && !strings.HasPrefix(name, "csi-") && !strings.HasPrefix(name, "snapshot") && !strings.HasPrefix(name, "pvmove") {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return "csi-" + hex.EncodeToString(sum[:16])
}

// managed reports whether the driver made lv, or began to.
func managed(lv lvm.LV) bool {
	return lv.Pending() || slices.Contains(lv.Tags, tagManaged)
}

// getVolume returns a volume this driver made, or a NotFound status.
func (d *Driver) getVolume(ctx context.Context, id string) (lvm.LV, error) {
	lv, err := d.vg.Get(ctx, id)
	if errors.Is(err, lvm.ErrNotFound) || err == nil && !managed(lv) {
		return lvm.LV{}, status.Errorf(codes.NotFound, "volume %q: not found in volume group %s on node %s", id, d.vg.Name(), d.node)
	}
	if err != nil {
		return lvm.LV{}, status.Errorf(codes.Internal, "volume %q: %v", id, err)
	}
	return lv, nil
}

func (d *Driver) topology() []*csi.Topology {
	return []*csi.Topology{{Segments: map[string]string{TopologyKey: d.node}}}
}
