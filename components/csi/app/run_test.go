package app_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/metalkube/metalkube/components/csi/app"
	"github.com/metalkube/metalkube/components/csi/driver"
	"github.com/metalkube/metalkube/components/csi/lvm/lvmtest"
)

// TestCompleteCreatesVolumeGroupAndRunServes: the flags' device pattern makes
// a volume group that did not exist (and opens it the second time), and Run
// serves the CSI services on the socket until its context ends.
func TestCompleteCreatesVolumeGroupAndRunServes(t *testing.T) {
	disks := lvmtest.Disks(t, 2, 64<<20)
	const vgName = "apptest"
	t.Cleanup(func() {
		_ = exec.Command("lvm", "vgremove", "-ff", "-y", "--devices", strings.Join(disks, ","), "--driverloaded", "n", vgName).Run()
	})
	sock := filepath.Join(t.TempDir(), "csi.sock")
	o := app.NewOptions()
	o.Endpoint, o.NodeID, o.VolumeGroup = "unix://"+sock, "node-a", vgName
	// Each device is its own pattern: a wider one (/dev/loop*) would take
	// the machine's other loop devices.
	o.Devices = disks
	for i := range 2 {
		cfg, err := o.Complete(context.Background())
		if err != nil {
			t.Fatalf("Complete #%d: %v", i+1, err)
		}
		info, err := cfg.Driver.Volumes.Info(context.Background())
		if err != nil || info.Name != vgName || info.Size < 100<<20 {
			t.Fatalf("Complete #%d: volume group %+v, %v; want %s over both disks", i+1, info, err, vgName)
		}
		if i == 1 {
			conn, stop := runAndDial(t, cfg, sock)
			resp, err := csi.NewIdentityClient(conn).GetPluginInfo(context.Background(), &csi.GetPluginInfoRequest{}, grpc.WaitForReady(true))
			if err != nil || resp.GetName() != driver.DefaultName {
				t.Errorf("GetPluginInfo = %v, %v; want %s", resp, err, driver.DefaultName)
			}
			stop()
		}
	}
}

// TestControllerRoleServesCentral: --role=controller needs no devices and
// serves the cluster-wide half: the driver's name, a controller service
// without capabilities and node-side expansion, which is what makes the
// external-resizer record new sizes without calling a controller that cannot
// reach the node's volumes.
func TestControllerRoleServesCentral(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "csi.sock")
	o := app.NewOptions()
	o.Endpoint, o.Role = "unix://"+sock, app.RoleController
	cfg, err := o.Complete(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	conn, stop := runAndDial(t, cfg, sock)
	id := csi.NewIdentityClient(conn)
	info, err := id.GetPluginInfo(context.Background(), &csi.GetPluginInfoRequest{}, grpc.WaitForReady(true))
	if err != nil || info.GetName() != driver.DefaultName {
		t.Errorf("GetPluginInfo = %v, %v; want %s", info, err, driver.DefaultName)
	}
	cc, err := csi.NewControllerClient(conn).ControllerGetCapabilities(context.Background(), &csi.ControllerGetCapabilitiesRequest{})
	if err != nil || len(cc.GetCapabilities()) != 0 {
		t.Errorf("ControllerGetCapabilities = %v, %v; want none (no controller expansion, no volumes)", cc, err)
	}
	nc, err := csi.NewNodeClient(conn).NodeGetCapabilities(context.Background(), &csi.NodeGetCapabilitiesRequest{})
	if err != nil || len(nc.GetCapabilities()) != 1 || nc.GetCapabilities()[0].GetRpc().GetType() != csi.NodeServiceCapability_RPC_EXPAND_VOLUME {
		t.Errorf("NodeGetCapabilities = %v, %v; want EXPAND_VOLUME only", nc, err)
	}
	if _, err := csi.NewControllerClient(conn).CreateVolume(context.Background(), &csi.CreateVolumeRequest{Name: "x"}); status.Code(err) != codes.Unimplemented {
		t.Errorf("CreateVolume on the controller role: %v, want Unimplemented", err)
	}
	stop()
}

// runAndDial runs cfg (app.Run) and connects to its socket; stop closes the
// connection, ends Run's context and checks that Run then returns nil.
func runAndDial(t *testing.T, cfg *app.Config, sock string) (*grpc.ClientConn, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg) }()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return conn, func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after its context ended: %v", err)
		}
	}
}
