package driver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/metalkube/metalkube/components/csi/lvm"
)

// CreateVolume creates a logical volume on this node, idempotent by name.
func (d *Driver) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name: empty")
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	layout, err := d.layout(req.GetParameters())
	if err != nil {
		return nil, err
	}
	if req.GetVolumeContentSource() != nil {
		return nil, status.Error(codes.InvalidArgument, "volume_content_source: snapshots and clones are not supported")
	}
	if !d.accessible(req.GetAccessibilityRequirements()) {
		return nil, status.Errorf(codes.ResourceExhausted, "accessibility_requirements: node %s (%s=%s) is not among the requisite topologies", d.node, TopologyKey, d.node)
	}
	extent, err := d.vg.ExtentSize(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "volume group %s on node %s: %v", d.vg.Name(), d.node, err)
	}
	size, err := volumeSize(req.GetCapacityRange(), extent)
	if err != nil {
		return nil, err
	}
	id := volumeID(req.GetName())
	// lvcreate first: the common case, a new name, takes no lookup.
	lv, err := d.vg.Create(ctx, id, size, layout, []string{tagManaged})
	var exists *lvm.ExistsError
	if errors.As(err, &exists) && exists.LV.Pending() && (exists.LV.Size < size || !fits(exists.LV.Size, req.GetCapacityRange())) {
		// A create cut short whose size no longer fits the request: start
		// afresh.
		if err := d.vg.Remove(ctx, exists.LV); err != nil {
			return nil, status.Errorf(codes.Internal, "remove unfinished volume %s: %v", id, err)
		}
		lv, err = d.vg.Create(ctx, id, size, layout, []string{tagManaged})
	}
	var ise *lvm.InsufficientSpaceError
	switch {
	case err == nil:
		d.log.Info("Created volume", "volume", id, "name", req.GetName(), "bytes", lv.Size)
	case errors.As(err, &ise):
		return nil, status.Errorf(codes.ResourceExhausted, "node %s, volume group %s: %d bytes requested, %d bytes free", d.node, ise.VG, ise.Need, ise.Free)
	case errors.As(err, &exists):
		lv = exists.LV
		if !managed(lv) {
			return nil, status.Errorf(codes.AlreadyExists, "name %q: logical volume %s/%s exists and was not made by this driver", req.GetName(), d.vg.Name(), id)
		}
		if lv.Pending() {
			// A create cut short (a restart, a cancelled call): finish it.
			if lv, err = d.vg.Finish(ctx, lv, []string{tagManaged}); err != nil {
				return nil, status.Errorf(codes.Internal, "finish volume %s: %v", id, err)
			}
			d.log.Info("Finished unfinished volume", "volume", id, "name", req.GetName(), "bytes", lv.Size)
		} else if lv.Size < size || !fits(lv.Size, req.GetCapacityRange()) {
			return nil, status.Errorf(codes.AlreadyExists, "name %q: volume %s exists with %d bytes, capacity_range asks %d..%d", req.GetName(), id, lv.Size, req.GetCapacityRange().GetRequiredBytes(), req.GetCapacityRange().GetLimitBytes())
		}
	default:
		return nil, status.Errorf(codes.Internal, "create volume %s: %v", id, err)
	}
	return &csi.CreateVolumeResponse{Volume: d.volume(lv, layout.Type)}, nil
}

// volume describes lv; layout is its type when known (CreateVolume).
func (d *Driver) volume(lv lvm.LV, layout string) *csi.Volume {
	v := &csi.Volume{VolumeId: lv.Name, CapacityBytes: lv.Size, AccessibleTopology: d.topology()}
	if layout != "" {
		v.VolumeContext = map[string]string{ParamType: layout}
	}
	return v
}

// layout returns the layout the parameters ask for (linear by default), or
// InvalidArgument naming the parameter, its value and why this node's volume
// group cannot make it.
func (d *Driver) layout(params map[string]string) (lvm.Layout, error) {
	if err := checkParameters(params); err != nil {
		return lvm.Layout{}, err
	}
	l := lvm.Layout{Type: params[ParamType]}
	if l.Type == "" {
		l.Type = TypeLinear
	}
	if err := d.vg.CheckLayout(l); err != nil {
		return lvm.Layout{}, status.Errorf(codes.InvalidArgument, "parameters.%s=%q: node %s, volume group %s: %v", ParamType, l.Type, d.node, d.vg.Name(), err)
	}
	return l, nil
}

// checkParameters accepts the known StorageClass parameters; the
// csi.storage.k8s.io/ ones the sidecars add are ignored.
func checkParameters(params map[string]string) error {
	for k, v := range params {
		switch k {
		case ParamType:
			if v != TypeLinear && v != TypeStriped && v != TypeMirror {
				return status.Errorf(codes.InvalidArgument, "parameters.%s=%q: unknown volume type, want %s, %s or %s", ParamType, v, TypeLinear, TypeStriped, TypeMirror)
			}
		default:
			if !isSidecarParameter(k) {
				return status.Errorf(codes.InvalidArgument, "parameters.%s=%q: unknown parameter", k, v)
			}
		}
	}
	return nil
}

func isSidecarParameter(k string) bool {
	const prefix = "csi.storage.k8s.io/"
	return len(k) > len(prefix) && k[:len(prefix)] == prefix
}

// volumeSize turns a capacity range into a size in whole extents.
func volumeSize(r *csi.CapacityRange, extent int64) (int64, error) {
	req, limit := r.GetRequiredBytes(), r.GetLimitBytes()
	if req < 0 || limit < 0 {
		return 0, status.Errorf(codes.InvalidArgument, "capacity_range: required_bytes=%d limit_bytes=%d must not be negative", req, limit)
	}
	if limit > 0 && req > limit {
		return 0, status.Errorf(codes.InvalidArgument, "capacity_range: required_bytes=%d exceeds limit_bytes=%d", req, limit)
	}
	size := req
	if size == 0 {
		size = extent
		if limit > 0 && limit < size {
			size = limit
		}
	}
	size = (size + extent - 1) / extent * extent
	if limit > 0 && size > limit {
		return 0, status.Errorf(codes.OutOfRange, "capacity_range: %d bytes rounded up to whole extents of %d bytes is %d, over limit_bytes=%d", req, extent, size, limit)
	}
	return size, nil
}

func fits(size int64, r *csi.CapacityRange) bool {
	return r.GetLimitBytes() == 0 || size <= r.GetLimitBytes()
}

// accessible reports whether this node satisfies the requisite topologies.
func (d *Driver) accessible(req *csi.TopologyRequirement) bool {
	if len(req.GetRequisite()) == 0 {
		return true
	}
	for _, t := range req.GetRequisite() {
		if n, ok := t.GetSegments()[TopologyKey]; ok && n == d.node {
			return true
		}
	}
	return false
}

// checkCapabilities accepts mount (ext4, xfs) and block access on one node.
func checkCapabilities(caps []*csi.VolumeCapability) error {
	if len(caps) == 0 {
		return status.Error(codes.InvalidArgument, "volume_capabilities: empty")
	}
	for i, c := range caps {
		if err := checkCapability(c); err != nil {
			return status.Errorf(codes.InvalidArgument, "volume_capabilities[%d]: %v", i, err)
		}
	}
	return nil
}

func checkCapability(c *csi.VolumeCapability) error {
	if c == nil {
		return errors.New("empty")
	}
	switch {
	case c.GetBlock() != nil:
	case c.GetMount() != nil:
		if _, err := fsType(c); err != nil {
			return err
		}
	default:
		return errors.New("access_type: neither mount nor block")
	}
	switch m := c.GetAccessMode().GetMode(); m {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER, csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER:
	default:
		return fmt.Errorf("access_mode %s: a local volume is reachable from one node only", m)
	}
	return nil
}

// fsType returns a mount capability's file system; ext4 when none is given.
func fsType(c *csi.VolumeCapability) (string, error) {
	switch fs := c.GetMount().GetFsType(); fs {
	case "":
		return "ext4", nil
	case "ext4", "xfs":
		return fs, nil
	default:
		return "", fmt.Errorf("mount.fs_type %q: want ext4 or xfs", fs)
	}
}

// DeleteVolume removes a volume; a volume that is gone already is success.
func (d *Driver) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: empty")
	}
	// Only volumes this driver made (or began to); any other, or none, is
	// gone as far as CSI is concerned.
	removed, err := d.vg.RemoveTagged(ctx, id, []string{tagManaged, lvm.TagPending})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "delete volume %s: %v", id, err)
	}
	if removed {
		d.log.Info("Deleted volume", "volume", id)
	}
	return &csi.DeleteVolumeResponse{}, nil
}

// ControllerExpandVolume grows the logical volume; the file system follows
// in NodeExpandVolume.
func (d *Driver) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: empty")
	}
	if req.GetCapacityRange() == nil {
		return nil, status.Error(codes.InvalidArgument, "capacity_range: missing")
	}
	if _, err := d.getVolume(ctx, id); err != nil {
		return nil, err
	}
	got, err := d.extend(ctx, id, req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	d.log.Info("Expanded volume", "volume", id, "bytes", got)
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: got, NodeExpansionRequired: req.GetVolumeCapability().GetBlock() == nil}, nil
}

// extend grows volume id to the capacity range in whole extents (a volume
// already that large is left alone) and returns its size; the errors are CSI
// statuses.
func (d *Driver) extend(ctx context.Context, id string, r *csi.CapacityRange) (int64, error) {
	extent, err := d.vg.ExtentSize(ctx)
	if err != nil {
		return 0, status.Errorf(codes.Unavailable, "volume group %s on node %s: %v", d.vg.Name(), d.node, err)
	}
	size, err := volumeSize(r, extent)
	if err != nil {
		return 0, err
	}
	got, err := d.vg.Extend(ctx, id, size)
	var ise *lvm.InsufficientSpaceError
	if errors.As(err, &ise) {
		return 0, status.Errorf(codes.ResourceExhausted, "node %s, volume group %s: expanding %s needs %d more bytes, %d bytes free", d.node, ise.VG, id, ise.Need, ise.Free)
	}
	if err != nil {
		return 0, status.Errorf(codes.Internal, "expand volume %s: %v", id, err)
	}
	return got, nil
}

// GetCapacity reports the volume group's free space for this node's topology
// (0 for any other node's).
func (d *Driver) GetCapacity(ctx context.Context, req *csi.GetCapacityRequest) (*csi.GetCapacityResponse, error) {
	if len(req.GetVolumeCapabilities()) > 0 {
		if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
			return nil, err
		}
	}
	if err := checkParameters(req.GetParameters()); err != nil {
		return nil, err
	}
	l := lvm.Layout{Type: req.GetParameters()[ParamType]}
	if d.vg.CheckLayout(l) != nil {
		// This node cannot make such volumes: none fit here.
		return &csi.GetCapacityResponse{}, nil
	}
	if t := req.GetAccessibleTopology(); t != nil {
		if n, ok := t.GetSegments()[TopologyKey]; !ok || n != d.node {
			return &csi.GetCapacityResponse{}, nil
		}
	}
	info, err := d.vg.Info(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "volume group %s on node %s: %v", d.vg.Name(), d.node, err)
	}
	// A mirrored volume takes its size once per copy.
	free := info.Free / l.Copies()
	return &csi.GetCapacityResponse{AvailableCapacity: free, MaximumVolumeSize: wrapperspb.Int64(free)}, nil
}

// ListVolumes lists the volumes this driver made (not those still being
// created), sorted by ID; the token is
// the index of the next entry.
func (d *Driver) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	lvs, err := d.vg.List(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "list volumes of %s on node %s: %v", d.vg.Name(), d.node, err)
	}
	lvs = slices.DeleteFunc(lvs, func(lv lvm.LV) bool { return !managed(lv) || lv.Pending() })
	start := 0
	if tok := req.GetStartingToken(); tok != "" {
		start, err = strconv.Atoi(tok)
		if err != nil || start < 0 || start > len(lvs) {
			return nil, status.Errorf(codes.Aborted, "starting_token %q: not a token of this driver", tok)
		}
	}
	if req.GetMaxEntries() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "max_entries=%d: must not be negative", req.GetMaxEntries())
	}
	end := len(lvs)
	if m := int(req.GetMaxEntries()); m > 0 && start+m < end {
		end = start + m
	}
	resp := &csi.ListVolumesResponse{}
	for _, lv := range lvs[start:end] {
		resp.Entries = append(resp.Entries, &csi.ListVolumesResponse_Entry{Volume: d.volume(lv, "")})
	}
	if end < len(lvs) {
		resp.NextToken = strconv.Itoa(end)
	}
	return resp, nil
}

// ValidateVolumeCapabilities confirms the capabilities this driver serves.
func (d *Driver) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id: empty")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "volume_capabilities: empty")
	}
	if _, err := d.getVolume(ctx, req.GetVolumeId()); err != nil {
		return nil, err
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: err.Error()}, nil
	}
	if err := checkParameters(req.GetParameters()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: err.Error()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext: req.GetVolumeContext(), VolumeCapabilities: req.GetVolumeCapabilities(), Parameters: req.GetParameters(),
	}}, nil
}

// ControllerGetCapabilities: create/delete, capacity, list and expand.
func (d *Driver) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var caps []*csi.ControllerServiceCapability
	for _, t := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_GET_CAPACITY,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
		csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
	} {
		caps = append(caps, &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: t}}})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}
