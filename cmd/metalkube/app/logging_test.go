package app

import (
	"bufio"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/metalkube/metalkube/shared/testkit/ports"

	"github.com/metalkube/metalkube/shared/metalapi"
)

// mainArgsEnv makes the test binary run Main with these (newline-separated)
// arguments instead of the tests: every component then runs in a process of
// its own, as in production, with its own klog and controller-runtime state.
const mainArgsEnv = "METALKUBE_TEST_MAIN_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(mainArgsEnv); args != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Main(ctx, append([]string{Name}, strings.Split(args, "\n")...), os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// logLine is a JSON log line as zap writes it.
type logLine struct {
	Level  string `json:"level"`
	Logger string `json:"logger"`
	Msg    string `json:"msg"`
}

// TestLoggingFlagsReachEveryComponent runs every component with the root's
// --log-level and --log-format and checks that they change the component's
// whole output: with json/debug every line it writes is JSON and its own
// debug lines appear (for the ccm, the upstream controller manager's klog
// lines); with console/info no line is JSON and no debug line appears.
func TestLoggingFlagsReachEveryComponent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts every component as a process")
	}
	dir := t.TempDir()
	// An API server address nothing listens on: the components start, log,
	// and fail to reach it.
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(`apiVersion: firewall.metalkube.io/v1alpha1
kind: ClusterwideNetworkPolicy
metadata: {name: web, namespace: firewall}
spec:
  ingress: [{ports: [{protocol: TCP, port: 443}]}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	api := metalapi.New(metalapi.Config{
		Machines: metalapi.Inventory("0000beef", "part-1", "s1", 1),
		Networks: []metalapi.Network{{ID: "internet", Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/28")}, Shared: true}},
		Projects: []string{"proj-1"},
		Token:    "token",
	})
	t.Cleanup(api.Close)
	env := []string{"METAL_AUTH_TOKEN=token"}
	backend := []string{"--backend=metalstack", "--metal-api-url=" + api.URL(), "--metal-project=proj-1"}
	server := []string{"--kubeconfig=" + kubeconfig, "--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=0"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		component string
		args      []string
		// debug is a debug message the component logs (a prefix); info an
		// info message, seen in both formats. Empty info: the command exits
		// by itself.
		debug, info string
	}{
		{component: "lb", args: cat(server, backend, []string{"--metal-cluster=c", "--announce=none"}),
			debug: "Creating manager", info: "Starting"},
		{component: "capi", args: cat(server, backend, []string{"--webhook-port=0"}), debug: "Creating manager", info: "Starting"},
		{component: "os", args: server, debug: "Creating manager", info: "Starting"},
		{component: "firewall", args: []string{"--dry-run", "--policy-file=" + policy, "--external-interfaces=ext0",
			"--internal-interfaces=int0", "--node-cidrs=10.0.0.0/24"}, debug: "Compiled ruleset"},
		{component: "extension", args: cat(server, []string{"--leader-election-namespace=default",
			"--disable-webhooks=controlplane", "--webhook-config-server-port=" + freePort(t), "--webhook-config-cert-dir=" + t.TempDir()}), debug: "Creating manager", info: "Starting"},
		{component: "admission", args: cat(server, []string{"--disable-webhooks=validator,secrets-validator,mutator",
			"--webhook-config-server-port=" + freePort(t), "--webhook-config-cert-dir=" + t.TempDir()}), debug: "Creating manager", info: "Starting"},
		{component: "mcm", args: cat(backend, []string{"--control-kubeconfig=" + kubeconfig, "--target-kubeconfig=" + kubeconfig,
			"--leader-elect=false", "--address=127.0.0.1", "--port=" + freePort(t), "--namespace=default"}),
			debug: "Driver configuration", info: "Starting machine-controller-manager provider"},
		// The csi driver opens its volume group first; without one (or
		// without LVM) it exits with the error.
		{component: "csi", args: []string{"--volume-group=mk-logging-test-vg", "--devices=" + filepath.Join(dir, "no-such-device"), "--csi-endpoint=" + filepath.Join(dir, "csi.sock"), "--node-id=n1"},
			debug: "Opening volume group"},
		{component: "ccm", args: cat(backend, []string{"--kubeconfig=" + kubeconfig, "--metal-cluster=c", "--leader-elect=false",
			"--secure-port=0", "--authentication-skip-lookup", "--announce=none"}),
			debug: "FLAG: --metal-cluster", info: "Version"},
	}
	for _, tt := range tests {
		t.Run(tt.component, func(t *testing.T) {
			lines := run(t, env, append([]string{tt.component, "--log-level=debug", "--log-format=json"}, tt.args...), tt.debug)
			var debug bool
			for _, l := range lines {
				var ll logLine
				if err := json.Unmarshal([]byte(l), &ll); err != nil || ll.Level == "" {
					t.Errorf("with --log-format=json, a line that is not a JSON log line: %q", l)
					continue
				}
				if ll.Level == "debug" && strings.HasPrefix(ll.Msg, tt.debug) {
					debug = true
				}
			}
			if !debug {
				t.Errorf("with --log-level=debug, no debug line %q in:\n%s", tt.debug, strings.Join(lines, "\n"))
			}

			lines = run(t, env, append([]string{tt.component, "--log-level=info", "--log-format=console"}, tt.args...), tt.info)
			var info bool
			for _, l := range lines {
				if json.Valid([]byte(l)) {
					t.Errorf("with --log-format=console, a JSON line: %q", l)
				}
				if strings.Contains(l, "DEBUG") || strings.Contains(l, tt.debug) {
					t.Errorf("with --log-level=info, a debug line: %q", l)
				}
				if tt.info != "" && strings.Contains(l, "\t"+tt.info) {
					info = true
				}
			}
			if tt.info != "" && !info {
				t.Errorf("with --log-level=info, no info line %q in:\n%s", tt.info, strings.Join(lines, "\n"))
			}
		})
	}
}

// run runs `metalkube args...` as a process until it has written a line
// containing until (or until it exits, for an empty until), stops it, and
// returns the log lines of its error stream (the "Error: " line Main adds
// for a failed command excluded).
func run(t *testing.T, env, args []string, until string) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), env...), mainArgsEnv+"="+strings.Join(args, "\n"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		lines []string
		seen  = make(chan struct{})
		once  sync.Once
		ended = make(chan struct{})
	)
	go func() {
		defer close(ended)
		s := bufio.NewScanner(stderr)
		s.Buffer(make([]byte, 1<<20), 1<<20)
		for s.Scan() {
			l := s.Text()
			if strings.TrimSpace(l) == "" {
				continue
			}
			if strings.HasPrefix(l, "Error: ") {
				t.Logf("%s: %s", args[0], l)
				continue
			}
			mu.Lock()
			lines = append(lines, l)
			mu.Unlock()
			if until != "" && strings.Contains(l, until) {
				once.Do(func() { close(seen) })
			}
		}
	}()
	select {
	case <-seen:
	case <-ended:
	case <-time.After(2 * time.Minute):
		t.Errorf("%v: no line %q within 2 minutes", args, until)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ended:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-ended
	}
	_ = cmd.Wait()
	mu.Lock()
	defer mu.Unlock()
	return lines
}

func freePort(t *testing.T) string {
	t.Helper()
	p, err := ports.Free()
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(p)
}
