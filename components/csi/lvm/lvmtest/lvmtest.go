package lvmtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metalkube/metalkube/components/csi/lvm"
)

// Disks attaches n loop devices of size bytes each, backed by sparse files in
// t.TempDir(), and detaches them (and every loop device stacked on them) when
// the test ends.
func Disks(t testing.TB, n int, size int64) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("lvm2 on loop devices needs root")
	}
	for _, tool := range []string{"lvm", "losetup", "mkfs.ext4", "mkfs.xfs", "blkid"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make deps installs lvm2, xfsprogs and e2fsprogs)", tool)
		}
	}
	dir := t.TempDir()
	var disks []string
	for i := range n {
		f := filepath.Join(dir, fmt.Sprintf("disk%d.img", i))
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(f, size); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("losetup", "--find", "--show", f).CombinedOutput()
		if err != nil {
			t.Skipf("the kernel refuses loop devices: losetup --find --show %s: %v: %s", f, err, strings.TrimSpace(string(out)))
		}
		dev := strings.TrimSpace(string(out))
		disks = append(disks, dev)
		t.Cleanup(func() { detachOn(t, dev); detach(t, dev) })
	}
	return disks
}

// VG returns a volume group named name on n fresh loop devices of size bytes,
// created by lvm.Open from the devices' paths, and removed when the test ends.
func VG(t testing.TB, name string, n int, size int64) *lvm.VG {
	t.Helper()
	disks := Disks(t, n, size)
	vg, err := lvm.Open(context.Background(), lvm.Config{VG: name, Devices: disks})
	if err != nil {
		t.Fatalf("create volume group %s on %v: %v", name, disks, err)
	}
	t.Cleanup(func() {
		// Loop devices stacked on the disks go first (loop activation).
		for _, d := range disks {
			detachOn(t, d)
		}
		args := []string{"vgremove", "-ff", "-y", "--devices", strings.Join(disks, ",")}
		if vg.Activation() == lvm.ActivationLoop {
			args = append(args, "--driverloaded", "n")
		}
		if out, err := exec.Command("lvm", append(args, name)...).CombinedOutput(); err != nil {
			t.Logf("vgremove %s: %v: %s", name, err, out)
		}
	})
	return vg
}

// detachOn detaches the loop devices whose backing file is dev.
func detachOn(t testing.TB, dev string) {
	out, err := exec.Command("losetup", "--associated", dev, "--noheadings", "-O", "NAME").Output()
	if err != nil {
		return
	}
	for l := range strings.FieldsSeq(string(out)) {
		detach(t, l)
	}
}

func detach(t testing.TB, dev string) {
	if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
		t.Logf("losetup --detach %s: %v: %s", dev, err, out)
	}
}

// LVM runs an lvm2 command on vg's devices the way the lvm package does, for
// tests that set up a state the driver must cope with (a crash mid-create).
func LVM(t testing.TB, vg *lvm.VG, args ...string) string {
	t.Helper()
	full := []string{args[0], "--devices", strings.Join(vg.Devices(), ",")}
	if vg.Activation() == lvm.ActivationLoop {
		full = append(full, "--driverloaded", "n")
	}
	cmd := exec.Command("lvm", append(full, args[1:]...)...)
	cmd.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lvm %v: %v: %s", args, err, out)
	}
	return string(out)
}
