package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// binaryEnv names a metalkube binary to run (`make test` builds bin/metalkube
// and sets it); without it the test builds one.
const binaryEnv = "METALKUBE_BINARY"

// metalkubeBinary returns $METALKUBE_BINARY, or builds the multicall binary
// into the test's temporary directory (quick with a warm build cache).
func metalkubeBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(binaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("$%s: %v", binaryEnv, err)
		}
		return p
	}
	root, err := filepath.Abs("../../../..")
	must(t, err)
	out := filepath.Join(t.TempDir(), "metalkube")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/metalkube")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build metalkube: %v\n%s", err, b)
	}
	return out
}

// startCCM runs `metalkube ccm` for the backend cluster as a process against
// the environment (the workload cluster here), on the test bed's ironcore
// backend, until the test ends; its output is logged when the test failed.
func startCCM(t *testing.T, ctx context.Context, backendCluster string) {
	t.Helper()
	bin := metalkubeBinary(t)
	cmd := exec.CommandContext(ctx, bin, "ccm", "--log-format=console",
		"--kubeconfig="+env.Kubeconfig, "--metal-cluster="+backendCluster, "--leader-elect=false", "--secure-port=0",
		"--node-monitor-period=1s", "--node-status-update-frequency=1s", "--controller-start-interval=0",
		"--announce=none", "--authentication-skip-lookup",
		"--backend=ironcore", "--metal-kubeconfig="+env.Kubeconfig, "--metal-namespace="+metalNamespace)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("ccm output (last 4000 bytes):\n%s", tail(logs.Bytes(), 4000))
		}
	})
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
