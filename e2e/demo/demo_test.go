package demo

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/metalkube/metalkube/e2e/framework"
)

// markerEnv is set, with a random value, in the environment of the demo
// under test; every process it starts inherits it, so a scan of /proc finds
// what is left of one run and nothing else.
const markerEnv = "METALKUBE_DEMO_TEST_RUN"

// startDemo builds the demo command and starts it the way `make demo | tee`
// does: from the repository root, its log directory given relative to it
// (as the default bin/demo-logs is), its output into a pipe the test reads.
// It returns the command, the read end of the pipe, the run's marker and the
// log directory's absolute path (removed when the test ends).
func startDemo(t *testing.T) (*exec.Cmd, *os.File, string, string) {
	t.Helper()
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "demo")
	build := exec.Command("go", "build", "-o", bin, "./e2e/cmd/demo")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the demo: %v\n%s", err, out)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	marker := hex.EncodeToString(b)
	rel := filepath.Join("bin", "demo-test-"+marker) // bin/ is git-ignored
	logDir := filepath.Join(root, rel)
	t.Cleanup(func() { _ = os.RemoveAll(logDir) })
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--servers=3", "--workers=2", "--firewall=off", "--real-node=off", "--log-format=json",
		"--logs="+rel, "--kubeconfig="+filepath.Join(rel, "kubeconfig"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), markerEnv+"="+marker)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = w.Close() // the demo holds the only write end
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = r.Close()
	})
	return cmd, r, marker, logDir
}

// readUntil reads lines from r into out until one contains want, and fails
// the test if the output ends first.
func readUntil(t *testing.T, r *bufio.Reader, out *bytes.Buffer, want string) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		out.WriteString(line)
		if strings.Contains(line, want) {
			return
		}
		if err != nil {
			t.Fatalf("demo output ended (%v) before %q:\n%s", err, want, out.String())
		}
	}
}

// leftProcesses returns the processes whose environment holds the run's
// marker: the demo's descendants, wherever they were reparented.
func leftProcesses(marker string) []string {
	entries, _ := os.ReadDir("/proc")
	var left []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, []byte(markerEnv+"="+marker)) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && strings.Contains(string(stat), ") Z ") {
			continue // a zombie: dead, waiting for its parent to reap it
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		left = append(left, strconv.Itoa(pid)+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return left
}

// requireNoProcessLeft fails the test if any process of the run is still
// alive after the grace a killed process needs to be reaped.
func requireNoProcessLeft(t *testing.T, marker string) {
	t.Helper()
	var left []string
	err := framework.Eventually(context.Background(), "every process of the demo gone", time.Minute, 200*time.Millisecond,
		func(context.Context) (bool, error) {
			left = leftProcesses(marker)
			return len(left) == 0, nil
		})
	if err != nil {
		t.Fatalf("%v; left:\n%s", err, strings.Join(left, "\n"))
	}
}

// TestDemoCtrlCThroughPipe is `make demo | tee demo.log` and a Ctrl-C once
// the shoot is up: the same SIGINT ends the reader of the pipe and reaches
// the demo, which must delete the shoot, find nothing leaked (no ServerClaim,
// IP claim, Secret or Machine), stop every process it started and exit 0,
// with its progress kept in the log directory although nobody reads its
// output any more. While the shoot is up, every component's health and
// metrics endpoints are listed, all on loopback.
func TestDemoCtrlCThroughPipe(t *testing.T) {
	cmd, r, marker, logDir := startDemo(t)
	var out bytes.Buffer
	br := bufio.NewReader(r)
	readUntil(t, br, &out, "press Ctrl-C")
	if before := leftProcesses(marker); len(before) < 5 {
		t.Errorf("the running demo has %d processes, want the control plane, peers and components:\n%s", len(before), strings.Join(before, "\n"))
	}
	for _, want := range []string{"initialized by ccm", "LoadBalancer IP 198.51.100.", "the shoot is up. kubeconfig: ",
		"metalkube-extension", "RSS ", "/healthz (200)", "/metrics (200)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if _, summary, ok := strings.Cut(out.String(), "memory and the health and metrics endpoints"); ok {
		summary, _, _ = strings.Cut(summary, "the shoot is up")
		t.Logf("components:%s", summary)
	}
	for _, l := range strings.Split(out.String(), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[1] != "RSS" {
			continue
		}
		var want []string
		switch f[0] {
		case "metalkube-extension":
			want = []string{"/healthz (200)", "/readyz (200)", "/metrics (200)"}
		case "ccm-cloud-controller-manager":
			// The secure port authorizes the metrics reader's token through
			// the API server, as it does Prometheus's.
			want = []string{"/healthz (200)", "/metrics (200)"}
		}
		for _, w := range want {
			if !strings.Contains(l, w) {
				t.Errorf("the summary of %s lacks %s: %s", f[0], w, l)
			}
		}
	}
	if strings.Contains(out.String(), NotLoopback) {
		t.Errorf("a component listens beyond loopback:\n%s", out.String())
	}
	// tee is gone: nobody reads the pipe any more.
	_ = r.Close()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	progress, _ := os.ReadFile(filepath.Join(logDir, ProgressLog))
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		t.Fatalf("demo after Ctrl-C: %v (exit code %d), want exit code 0; progress:\n%s", err, exit.ExitCode(), progress)
	case err != nil:
		t.Fatal(err)
	}
	for _, want := range []string{"delete the shoot", "no ServerClaim, IP claim, Secret or Machine left", "done"} {
		if !bytes.Contains(progress, []byte(want)) {
			t.Errorf("progress in %s lacks %q:\n%s", ProgressLog, want, progress)
		}
	}
	requireNoProcessLeft(t, marker)
}

// TestDemoKilled kills the demo with SIGKILL (no cleanup can run) once the
// control plane, the peers and the extension run: every one of them must die
// with it.
func TestDemoKilled(t *testing.T) {
	cmd, r, marker, _ := startDemo(t)
	var out bytes.Buffer
	readUntil(t, bufio.NewReader(r), &out, "metalkube-extension started")
	if before := leftProcesses(marker); len(before) < 4 {
		t.Fatalf("the running demo has %d processes, want etcd, kube-apiserver, the peers and the extension:\n%s", len(before), strings.Join(before, "\n"))
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	_, _ = io.Copy(io.Discard, r)
	requireNoProcessLeft(t, marker)
}

// TestDemoCtrlCDuringSetup: a Ctrl-C before the shoot is up stops every
// process (what was created lives in the run's own control plane) and exits 0.
func TestDemoCtrlCDuringSetup(t *testing.T) {
	cmd, r, marker, logDir := startDemo(t)
	var out bytes.Buffer
	readUntil(t, bufio.NewReader(r), &out, "metalkube-extension started")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, r) }()
	if err := cmd.Wait(); err != nil {
		progress, _ := os.ReadFile(filepath.Join(logDir, ProgressLog))
		t.Fatalf("demo after Ctrl-C during setup: %v, want exit code 0; progress:\n%s", err, progress)
	}
	requireNoProcessLeft(t, marker)
}
