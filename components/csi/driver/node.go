package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// NodeStageVolume activates the volume and, for a mount volume, makes its
// file system where it has none and mounts it at the staging path.
func (d *Driver) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	id, staging := req.GetVolumeId(), req.GetStagingTargetPath()
	if err := required("volume_id", id, "staging_target_path", staging); err != nil {
		return nil, err
	}
	c := req.GetVolumeCapability()
	if c == nil {
		return nil, status.Error(codes.InvalidArgument, "volume_capability: missing")
	}
	if err := checkCapability(c); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "volume_capability: %v", err)
	}
	if _, err := d.getVolume(ctx, id); err != nil {
		return nil, err
	}
	dev, err := d.vg.Activate(ctx, id)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "activate volume %s: %v", id, err)
	}
	if c.GetBlock() != nil {
		return &csi.NodeStageVolumeResponse{}, nil
	}
	if _, ok, err := d.mounter.mounted(staging); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	} else if ok {
		return &csi.NodeStageVolumeResponse{}, nil
	}
	fs, _ := fsType(c)
	has, err := d.mounter.fsOf(ctx, dev)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	switch has {
	case "":
		if err := d.mounter.format(ctx, fs, dev); err != nil {
			return nil, status.Errorf(codes.Internal, "format volume %s: %v", id, err)
		}
		d.log.Info("Formatted volume", "volume", id, "fsType", fs)
	case fs:
		grown, err := d.mounter.growOffline(ctx, fs, dev)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "grow the file system of volume %s: %v", id, err)
		}
		if grown {
			d.log.Info("Grew file system before mounting", "volume", id, "fsType", fs)
		}
	default:
		return nil, status.Errorf(codes.FailedPrecondition, "volume %s holds a %s file system, volume_capability asks %s", id, has, fs)
	}
	if err := os.MkdirAll(staging, 0o750); err != nil {
		return nil, status.Errorf(codes.Internal, "staging_target_path %s: %v", staging, err)
	}
	if err := d.mounter.mount(ctx, dev, staging, fs, c.GetMount().GetMountFlags()); err != nil {
		return nil, status.Errorf(codes.Internal, "mount volume %s: %v", id, err)
	}
	return &csi.NodeStageVolumeResponse{}, nil
}

// NodeUnstageVolume unmounts the staging path and deactivates the volume.
func (d *Driver) NodeUnstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	id, staging := req.GetVolumeId(), req.GetStagingTargetPath()
	if err := required("volume_id", id, "staging_target_path", staging); err != nil {
		return nil, err
	}
	if err := d.unmount(ctx, staging); err != nil {
		return nil, err
	}
	if _, err := d.getVolume(ctx, id); status.Code(err) == codes.NotFound {
		return &csi.NodeUnstageVolumeResponse{}, nil
	} else if err != nil {
		return nil, err
	}
	if err := d.vg.Deactivate(ctx, id); err != nil {
		return nil, status.Errorf(codes.Internal, "deactivate volume %s: %v", id, err)
	}
	return &csi.NodeUnstageVolumeResponse{}, nil
}

// unmount unmounts target if it is mounted and removes it.
func (d *Driver) unmount(ctx context.Context, target string) error {
	if _, ok, err := d.mounter.mounted(target); err != nil {
		return status.Error(codes.Internal, err.Error())
	} else if ok {
		if err := d.mounter.unmount(ctx, target); err != nil {
			return status.Error(codes.Internal, err.Error())
		}
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return status.Errorf(codes.Internal, "remove %s: %v", target, err)
	}
	return nil
}

// NodePublishVolume bind-mounts the staged file system (or the block device)
// at the target path.
func (d *Driver) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	id, target, staging := req.GetVolumeId(), req.GetTargetPath(), req.GetStagingTargetPath()
	if err := required("volume_id", id, "target_path", target, "staging_target_path", staging); err != nil {
		return nil, err
	}
	c := req.GetVolumeCapability()
	if c == nil {
		return nil, status.Error(codes.InvalidArgument, "volume_capability: missing")
	}
	if err := checkCapability(c); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "volume_capability: %v", err)
	}
	if _, err := d.getVolume(ctx, id); err != nil {
		return nil, err
	}
	if _, ok, err := d.mounter.mounted(target); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	} else if ok {
		return &csi.NodePublishVolumeResponse{}, nil
	}
	source := staging
	if c.GetBlock() != nil {
		dev, err := d.vg.Activate(ctx, id)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "activate volume %s: %v", id, err)
		}
		source = dev
		if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
			return nil, status.Errorf(codes.Internal, "target_path %s: %v", target, err)
		}
		f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o640)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "target_path %s: %v", target, err)
		}
		_ = f.Close()
	} else {
		if _, ok, err := d.mounter.mounted(staging); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		} else if !ok {
			return nil, status.Errorf(codes.FailedPrecondition, "staging_target_path %s: volume %s is not staged there", staging, id)
		}
		if err := os.MkdirAll(target, 0o750); err != nil {
			return nil, status.Errorf(codes.Internal, "target_path %s: %v", target, err)
		}
	}
	if err := d.mounter.mount(ctx, source, target, "", []string{"bind"}); err != nil {
		return nil, status.Errorf(codes.Internal, "publish volume %s: %v", id, err)
	}
	if req.GetReadonly() {
		if err := d.mounter.mount(ctx, source, target, "", []string{"remount", "bind", "ro"}); err != nil {
			return nil, status.Errorf(codes.Internal, "publish volume %s read-only: %v", id, err)
		}
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

// NodeUnpublishVolume unmounts and removes the target path.
func (d *Driver) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	if err := required("volume_id", req.GetVolumeId(), "target_path", req.GetTargetPath()); err != nil {
		return nil, err
	}
	if err := d.unmount(ctx, req.GetTargetPath()); err != nil {
		return nil, err
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// NodeGetVolumeStats reports bytes and inodes of a mounted volume, or the
// size of a published block volume.
func (d *Driver) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	id, path := req.GetVolumeId(), req.GetVolumePath()
	if err := required("volume_id", id, "volume_path", path); err != nil {
		return nil, err
	}
	if _, err := d.getVolume(ctx, id); err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, status.Errorf(codes.NotFound, "volume_path %s: does not exist", path)
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "volume_path %s: %v", path, err)
	}
	if !fi.IsDir() {
		size, err := blockSize(path)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "volume_path %s: %v", path, err)
		}
		return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{{Unit: csi.VolumeUsage_BYTES, Total: size}}}, nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return nil, status.Errorf(codes.Internal, "statfs %s: %v", path, err)
	}
	bs := st.Bsize
	return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
		{Unit: csi.VolumeUsage_BYTES, Total: int64(st.Blocks) * bs, Available: int64(st.Bavail) * bs, Used: int64(st.Blocks-st.Bfree) * bs},
		{Unit: csi.VolumeUsage_INODES, Total: int64(st.Files), Available: int64(st.Ffree), Used: int64(st.Files - st.Ffree)},
	}}, nil
}

func blockSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// Seeking to the end of a block device reports its size.
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", path, err)
	}
	return n, nil
}

// NodeExpandVolume grows the file system mounted at the volume path to the
// logical volume's size; a block volume needs nothing.
func (d *Driver) NodeExpandVolume(ctx context.Context, req *csi.NodeExpandVolumeRequest) (*csi.NodeExpandVolumeResponse, error) {
	id, path := req.GetVolumeId(), req.GetVolumePath()
	if err := required("volume_id", id, "volume_path", path); err != nil {
		return nil, err
	}
	lv, err := d.getVolume(ctx, id)
	if err != nil {
		return nil, err
	}
	// With the chart's central resizer (Central) the controller side only
	// records the new size: the logical volume grows here, on its node.
	if req.GetCapacityRange().GetRequiredBytes() > lv.Size {
		if lv.Size, err = d.extend(ctx, id, req.GetCapacityRange()); err != nil {
			return nil, err
		}
		d.log.Info("Expanded volume", "volume", id, "bytes", lv.Size)
	}
	if req.GetVolumeCapability().GetBlock() != nil {
		return &csi.NodeExpandVolumeResponse{CapacityBytes: lv.Size}, nil
	}
	m, ok, err := d.mounter.mounted(path)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if !ok {
		if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
			return &csi.NodeExpandVolumeResponse{CapacityBytes: lv.Size}, nil
		}
		return nil, status.Errorf(codes.NotFound, "volume_path %s: volume %s is not mounted there", path, id)
	}
	if m.FSType == "" || m.Source == "" {
		return nil, status.Errorf(codes.Internal, "volume_path %s: unknown mount", path)
	}
	if m.Source[0] != '/' || !isBlock(m.Source) {
		return nil, status.Errorf(codes.Internal, "volume_path %s: mounted from %s, not a block device", path, m.Source)
	}
	if err := d.mounter.resize(ctx, m); err != nil {
		return nil, status.Errorf(codes.Internal, "grow the file system of volume %s: %v", id, err)
	}
	d.log.Info("Expanded file system", "volume", id, "bytes", lv.Size)
	return &csi.NodeExpandVolumeResponse{CapacityBytes: lv.Size}, nil
}

func isBlock(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0
}

// NodeGetCapabilities: stage/unstage, expand and volume stats.
func (d *Driver) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	var caps []*csi.NodeServiceCapability
	for _, t := range []csi.NodeServiceCapability_RPC_Type{
		csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
		csi.NodeServiceCapability_RPC_EXPAND_VOLUME,
		csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
	} {
		caps = append(caps, &csi.NodeServiceCapability{Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: t}}})
	}
	return &csi.NodeGetCapabilitiesResponse{Capabilities: caps}, nil
}

// NodeGetInfo names the node and its topology.
func (d *Driver) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: d.node, AccessibleTopology: d.topology()[0]}, nil
}

// required returns InvalidArgument naming the first empty field of the
// name, value pairs.
func required(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return status.Errorf(codes.InvalidArgument, "%s: empty", pairs[i])
		}
	}
	return nil
}
