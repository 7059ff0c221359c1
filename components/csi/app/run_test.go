package app_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

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
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- app.Run(ctx, cfg) }()
			conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := csi.NewIdentityClient(conn).GetPluginInfo(context.Background(), &csi.GetPluginInfoRequest{}, grpc.WaitForReady(true))
			_ = conn.Close()
			if err != nil || resp.GetName() != driver.DefaultName {
				t.Errorf("GetPluginInfo = %v, %v; want %s", resp, err, driver.DefaultName)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run after its context ended: %v", err)
			}
		}
	}
}
