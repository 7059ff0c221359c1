package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/metalkube/metalkube/components/csi/app"
	"github.com/metalkube/metalkube/components/csi/lvm"
	"github.com/metalkube/metalkube/components/csi/lvm/lvmtest"
)

// runDriverEnv makes the test binary run `metalkube csi` (app.NewCommand,
// the command the multicall binary runs) with its arguments instead of the
// tests: TestMain checks it, so that a test can start the real command as a
// process of its own and kill it.
const runDriverEnv = "METALKUBE_CSI_TEST_RUN_DRIVER"

func TestMain(m *testing.M) {
	if os.Getenv(runDriverEnv) == "1" {
		cmd := app.NewCommand(context.Background())
		cmd.SetArgs(os.Args[1:])
		if err := cmd.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// lvmStopper is put first in the driver's PATH as "lvm": it runs the real
// lvm2 and stops for good (until killed) at one point of CreateVolume,
// after touching $STOP_FILE so the test knows the driver is there:
// after-lvcreate: the real lvcreate has made the volume, the driver still
// waits for the command to return; before-retag: the volume is made and
// zeroed, the driver waits for the lvchange that marks it finished.
const lvmStopper = `#!/bin/sh
case "$STOP_AT:$1" in
after-lvcreate:lvcreate)
	"$REAL_LVM" "$@"
	touch "$STOP_FILE"
	exec sleep 3600 ;;
esac
case "$STOP_AT: $* " in
before-retag:*" --deltag metalkube.io/creating "*)
	touch "$STOP_FILE"
	exec sleep 3600 ;;
esac
exec "$REAL_LVM" "$@"
`

// TestKilledMidCreate kills the driver process (SIGKILL, as a node restart
// would) in the middle of CreateVolume, at two points observed from outside:
// each time the logical volume exists in lvm2, tagged unfinished, and the
// driver has not replied. A restarted driver then answers the retried
// CreateVolume (same name) with one whole volume: tagged as the driver's,
// its first MiB zeroed (the disk held an old ext4 there), listed once,
// nothing else in the volume group and no loop device left attached.
func TestKilledMidCreate(t *testing.T) {
	realLVM, err := exec.LookPath("lvm")
	if err != nil {
		t.Skipf("lvm2 is not installed: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, stopAt := range []string{"after-lvcreate", "before-retag"} {
		t.Run(stopAt, func(t *testing.T) {
			vg := lvmtest.VG(t, "kill", 1, 256*mib)
			ctx := context.Background()
			staleExt4(t, vg)

			dir := t.TempDir()
			wrapDir := filepath.Join(dir, "wrap")
			must(t, os.MkdirAll(wrapDir, 0o755))
			must(t, os.WriteFile(filepath.Join(wrapDir, "lvm"), []byte(lvmStopper), 0o755))
			stopFile := filepath.Join(dir, "stopped")
			sock := filepath.Join(dir, "csi.sock")
			args := []string{"--csi-endpoint=unix://" + sock, "--node-id=node-a", "--volume-group=" + vg.Name(),
				"--devices=" + strings.Join(vg.Devices(), ","), "--activation=" + string(vg.Activation())}

			first := startDriver(t, self, args, "PATH="+wrapDir+":"+os.Getenv("PATH"), "REAL_LVM="+realLVM, "STOP_AT="+stopAt, "STOP_FILE="+stopFile)
			req := &csi.CreateVolumeRequest{Name: "pvc-killed", CapacityRange: &csi.CapacityRange{RequiredBytes: 32 * mib}, VolumeCapabilities: []*csi.VolumeCapability{mountCap("ext4")}}
			replied := make(chan error, 1)
			go func() {
				_, err := dial(t, sock).CreateVolume(ctx, req)
				replied <- err
			}()
			waitUntil(t, "the driver stopped "+stopAt, func() bool { _, err := os.Stat(stopFile); return err == nil })
			lv, err := vg.Get(ctx, "pvc-killed")
			if err != nil || !lv.Pending() {
				t.Fatalf("before the kill, lvm2 shows %+v, %v; want the volume tagged %s", lv, err, lvm.TagPending)
			}
			select {
			case err := <-replied:
				t.Fatalf("CreateVolume replied (%v) before the kill", err)
			default:
			}
			first.kill(t)
			if err := <-replied; err == nil {
				t.Fatal("CreateVolume succeeded although its driver was killed")
			}

			startDriver(t, self, args)
			resp, err := dial(t, sock).CreateVolume(ctx, req)
			if err != nil || resp.GetVolume().GetVolumeId() != "pvc-killed" || resp.GetVolume().GetCapacityBytes() != 32*mib {
				t.Fatalf("retried CreateVolume = %v, %v; want pvc-killed of 32 MiB", resp, err)
			}
			lvs, err := vg.List(ctx)
			if err != nil || len(lvs) != 1 || lvs[0].Name != "pvc-killed" || lvs[0].Pending() || lvs[0].Size != 32*mib {
				t.Fatalf("volume group after the retry: %+v, %v; want pvc-killed alone, finished, 32 MiB", lvs, err)
			}
			list, err := dial(t, sock).ListVolumes(ctx, &csi.ListVolumesRequest{})
			if err != nil || len(list.GetEntries()) != 1 {
				t.Errorf("ListVolumes = %v, %v; want one volume", list, err)
			}
			if out, err := execOut("losetup", "--associated", vg.Devices()[0], "--noheadings", "-O", "NAME"); err != nil || strings.TrimSpace(string(out)) != "" {
				t.Errorf("loop devices left on %s: %q, %v", vg.Devices()[0], out, err)
			}
			dev, err := vg.Activate(ctx, "pvc-killed")
			if err != nil {
				t.Fatal(err)
			}
			head := readAt(t, dev, 1<<20)
			must(t, vg.Deactivate(ctx, "pvc-killed"))
			for i, b := range head {
				if b != 0 {
					t.Fatalf("byte %d of the volume is %#x: the old data was not zeroed", i, b)
				}
			}
		})
	}
}

// staleExt4 leaves an ext4 file system on the extents the next volume gets:
// a volume made with lvm2 directly, formatted, and removed.
func staleExt4(t *testing.T, vg *lvm.VG) {
	t.Helper()
	ctx := context.Background()
	lvmtest.LVM(t, vg, "lvcreate", "-y", "-an", "-Zn", "--alloc", "contiguous", "-n", "stale", "-L", "32m", vg.Name())
	dev, err := vg.Activate(ctx, "stale")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := execOut("mkfs.ext4", "-q", "-F", dev); err != nil {
		t.Fatalf("mkfs.ext4 %s: %v: %s", dev, err, out)
	}
	must(t, vg.Deactivate(ctx, "stale"))
	lvmtest.LVM(t, vg, "lvremove", "-y", vg.Name()+"/stale")
}

// driverProcess is `metalkube csi` running as a process of its own.
type driverProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startDriver starts `metalkube csi` with args (and env added to the test's
// environment) in a process group of its own; it is killed when the test ends.
func startDriver(t *testing.T, self string, args []string, env ...string) *driverProcess {
	t.Helper()
	log, err := os.Create(filepath.Join(t.TempDir(), "driver.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(append(os.Environ(), runDriverEnv+"=1"), env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the driver: %v", err)
	}
	p := &driverProcess{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill(t)
		_ = log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("driver log:\n%s", tail(b, 4000))
		}
	})
	return p
}

// kill sends SIGKILL to the driver's process group (the driver and the lvm2
// command it waits for) and waits for the driver to be gone.
func (p *driverProcess) kill(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Errorf("kill the driver: %v", err)
	}
	<-p.done
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 3*time.Minute, true, func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatal(fmt.Errorf("waiting for %s: %w", what, err))
	}
}
