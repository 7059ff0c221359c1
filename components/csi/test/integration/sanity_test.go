package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr/testr"

	"github.com/metalkube/metalkube/components/csi/driver"
	"github.com/metalkube/metalkube/components/csi/lvm"
	"github.com/metalkube/metalkube/components/csi/lvm/lvmtest"
	"github.com/metalkube/metalkube/shared/testenv"
)

// serve starts the driver on vg at a unix socket in a fresh directory and
// returns the socket's path; it stops when the test ends.
func serve(t testing.TB, vg *lvm.VG, node string) string {
	t.Helper()
	d, err := driver.New(driver.Config{NodeID: node, Volumes: vg, Version: "test", Log: testr.NewWithInterface(t, testr.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "csi.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, sock) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return sock
}

// TestSanity runs the whole csi-sanity suite against the driver on a volume
// group of two 1 GiB loop devices.
func TestSanity(t *testing.T) {
	bin, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	sanity := filepath.Join(bin, "csi-sanity")
	if _, err := os.Stat(sanity); err != nil {
		t.Fatalf("csi-sanity is not built: %v (make testbin builds it with components/csi/hack/peers.sh)", err)
	}
	vg := lvmtest.VG(t, "sanity", 2, 1<<30)
	sock := serve(t, vg, "node-a")
	dir := t.TempDir()
	cmd := exec.Command(sanity,
		"--csi.endpoint=unix://"+sock,
		"--csi.stagingdir="+filepath.Join(dir, "staging"),
		"--csi.mountdir="+filepath.Join(dir, "mount"),
		"--csi.testvolumesize=33554432",
		"--csi.testvolumeexpandsize=67108864",
		"--ginkgo.no-color",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("csi-sanity failed: %v\n%s", err, out)
	}
	t.Logf("csi-sanity:\n%s", lastLines(string(out), 6))
	lvs, err := vg.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(lvs) != 0 {
		t.Errorf("csi-sanity left %d logical volumes behind: %v", len(lvs), lvs)
	}
}

func lastLines(s string, n int) string {
	lines := []string{}
	start := len(s)
	for i := len(s) - 1; i >= 0 && len(lines) < n; i-- {
		if s[i] == '\n' {
			lines = append(lines, s[i+1:start])
			start = i
		}
	}
	return s[start:]
}
