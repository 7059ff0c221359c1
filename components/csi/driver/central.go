package driver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Central is the driver's cluster-wide half, served to the external-resizer
// of the controller Deployment. Volumes live on their nodes, where only the
// node plugin (Driver) can reach them, so Central has no volume group: it
// claims a controller service without a single RPC capability (the resizer
// insists on a controller service) and node-side expansion only. The resizer then
// records a new size on the PersistentVolume without calling the driver, and
// the kubelet's NodeExpandVolume on the volume's node grows the logical volume
// and its file system.
type Central struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer
	csi.UnimplementedNodeServer

	name, version string
	log           logr.Logger
}

var (
	_ csi.IdentityServer   = (*Central)(nil)
	_ csi.ControllerServer = (*Central)(nil)
	_ csi.NodeServer       = (*Central)(nil)
)

// NewCentral returns the cluster-wide half; name empty: DefaultName.
func NewCentral(name, version string, log logr.Logger) *Central {
	if name == "" {
		name = DefaultName
	}
	return &Central{name: name, version: version, log: log}
}

// GetPluginInfo returns the driver's name and version.
func (c *Central) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: c.name, VendorVersion: c.version}, nil
}

// GetPluginCapabilities: a controller service (with no RPCs) and online
// expansion.
func (c *Central) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{Capabilities: []*csi.PluginCapability{
		{Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: csi.PluginCapability_Service_CONTROLLER_SERVICE}}},
		{Type: &csi.PluginCapability_VolumeExpansion_{VolumeExpansion: &csi.PluginCapability_VolumeExpansion{Type: csi.PluginCapability_VolumeExpansion_ONLINE}}},
	}}, nil
}

// Probe is always ready: Central depends on nothing.
func (c *Central) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
}

// ControllerGetCapabilities: none; every volume call belongs to the node
// plugin on the volume's node.
func (c *Central) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	return &csi.ControllerGetCapabilitiesResponse{}, nil
}

// NodeGetCapabilities: expansion happens on the node.
func (c *Central) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	return &csi.NodeGetCapabilitiesResponse{Capabilities: []*csi.NodeServiceCapability{
		{Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: csi.NodeServiceCapability_RPC_EXPAND_VOLUME}}},
	}}, nil
}

// Serve serves Central on the unix socket at path until ctx ends.
func (c *Central) Serve(ctx context.Context, path string) error {
	c.log.Info("Serving CSI (cluster-wide half: node-side expansion only)", "endpoint", path, "driver", c.name)
	return serve(ctx, path, c.log, func(s *grpc.Server) {
		csi.RegisterIdentityServer(s, c)
		csi.RegisterControllerServer(s, c)
		csi.RegisterNodeServer(s, c)
	})
}

// serve serves the services register adds on the unix socket at path (a
// stale socket file is replaced) until ctx ends. Failed calls are logged,
// every call at V(1); requests are never logged whole.
func serve(ctx context.Context, path string, log logr.Logger, register func(*grpc.Server)) error {
	path = strings.TrimPrefix(path, "unix://")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			log.Info("CSI call failed", "method", info.FullMethod, "error", err.Error())
		} else {
			log.V(1).Info("CSI call", "method", info.FullMethod)
		}
		return resp, err
	}))
	register(srv)
	go func() {
		<-ctx.Done()
		srv.GracefulStop()
	}()
	if err := srv.Serve(l); err != nil {
		return fmt.Errorf("serve CSI on %s: %w", path, err)
	}
	return nil
}
