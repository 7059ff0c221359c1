package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

const (
	flagCSIAddress       = "csi-address"
	flagRegistrationPath = "kubelet-registration-path"
	flagMode             = "mode"
	flagPluginDir        = "plugin-registration-dir"
	flagV                = "v"
)

// probeMode is the liveness probe's mode.
const probeMode = "kubelet-registration-probe"

func main() {
	address := flag.String(flagCSIAddress, "", "the driver's CSI socket inside this container (required)")
	regPath := flag.String(flagRegistrationPath, "", "the driver's socket path on the node, as the kubelet reaches it (required)")
	mode := flag.String(flagMode, "registration", "registration, or "+probeMode)
	dir := flag.String(flagPluginDir, "/registration", "the kubelet's plugin registry, mounted")
	flag.Int(flagV, 0, "log verbosity (accepted for the upstream sidecar's flags)")
	flag.Parse()
	if err := run(*address, *regPath, *mode, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "csiregistrar:", err)
		os.Exit(1)
	}
}

func run(address, regPath, mode, dir string) error {
	if regPath == "" {
		return fmt.Errorf("--%s is required", flagRegistrationPath)
	}
	marker := filepath.Join(filepath.Dir(regPath), "registration")
	switch mode {
	case probeMode:
		if _, err := os.Stat(marker); err != nil {
			return fmt.Errorf("not registered with the kubelet: %w", err)
		}
		return nil
	case "registration":
	default:
		return fmt.Errorf("--%s %q: want registration or %s", flagMode, mode, probeMode)
	}
	if address == "" {
		return fmt.Errorf("--%s is required", flagCSIAddress)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	name, err := driverName(ctx, address)
	if err != nil {
		return err
	}
	sock := filepath.Join(dir, name+"-reg.sock")
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	defer os.Remove(sock)
	failed := make(chan error, 1)
	srv := grpc.NewServer()
	registerapi.RegisterRegistrationServer(srv, &registrar{name: name, endpoint: regPath, marker: marker, failed: failed})
	go func() { _ = srv.Serve(l) }()
	fmt.Printf("serving the plugin registration of %s (endpoint %s) on %s\n", name, regPath, sock)
	select {
	case <-ctx.Done():
		srv.GracefulStop()
		return nil
	case err := <-failed:
		srv.Stop()
		return err
	}
}

// driverName asks the driver for its name, waiting until its socket answers.
func driverName(ctx context.Context, address string) (string, error) {
	target := address
	if !strings.HasPrefix(target, "unix:") {
		target = "unix://" + address
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	for {
		info, err := csi.NewIdentityClient(conn).GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
		if err == nil {
			return info.GetName(), nil
		}
		fmt.Printf("waiting for the driver at %s: %v\n", address, err)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// registrar answers the kubelet's plugin watcher.
type registrar struct {
	registerapi.UnimplementedRegistrationServer
	name, endpoint, marker string
	failed                 chan<- error
}

// GetInfo implements registerapi.RegistrationServer.
func (r *registrar) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{Type: registerapi.CSIPlugin, Name: r.name, Endpoint: r.endpoint, SupportedVersions: []string{"1.0.0"}}, nil
}

// NotifyRegistrationStatus implements registerapi.RegistrationServer.
func (r *registrar) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !s.PluginRegistered {
		select {
		case r.failed <- fmt.Errorf("the kubelet refused the registration of %s: %s", r.name, s.Error):
		default:
		}
		return &registerapi.RegistrationStatusResponse{}, nil
	}
	fmt.Printf("registered %s with the kubelet\n", r.name)
	if err := os.WriteFile(r.marker, nil, 0o600); err != nil {
		fmt.Printf("write %s: %v\n", r.marker, err)
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}
