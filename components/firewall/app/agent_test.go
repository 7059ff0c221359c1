package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	"github.com/metalkube/metalkube/components/firewall/app"
	"github.com/metalkube/metalkube/components/firewall/controller/ruleset"
	"github.com/metalkube/metalkube/components/firewall/internal/fixture"
	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit"
	"github.com/metalkube/metalkube/shared/testkit/netns"
)

// agentArgsEnv makes the test binary run `metalkube firewall` with these
// (newline-separated) arguments instead of tests: the end-to-end test starts
// the agent that way inside a network namespace of its own.
const agentArgsEnv = "METALKUBE_FIREWALL_AGENT_ARGS"

var env *testenv.Env

func TestMain(m *testing.M) {
	if args := os.Getenv(agentArgsEnv); args != "" {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			c := make(chan os.Signal, 1)
			signalNotify(c)
			<-c
			cancel()
		}()
		cmd := app.NewCommand(ctx)
		cmd.SetArgs(strings.Split(args, "\n"))
		if err := cmd.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(testenv.Main(m, testenv.Options{CRDPaths: []string{"../config/crd"}, Scheme: ruleset.NewScheme()}, &env))
}

// TestAgent runs `metalkube firewall` as a process against the real API
// server, managing the ruleset of a network namespace of the test's: it
// applies policies, reports status and metrics, and leaves its ruleset in the
// kernel when it exits.
func TestAgent(t *testing.T) {
	netns.Require(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("skipping: needs the nft tool (Debian package nftables)")
	}
	ctx := context.Background()
	c := env.Client
	ns := netns.New(t, "agent")
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "firewall"}}))
	good := &v1alpha1.ClusterwideNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "firewall", Name: "https"},
		Spec: v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{Ports: []networkingv1.NetworkPolicyPort{fixture.TCP(443)}}}}}
	bad := &v1alpha1.ClusterwideNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "firewall", Name: "bad"},
		Spec: v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{From: []networkingv1.IPBlock{fixture.Block("300.0.0.0/8")}}}}}
	must(t, c.Create(ctx, good))
	must(t, c.Create(ctx, bad))

	// dry run against the cluster
	var out, errOut bytes.Buffer
	dry := app.NewCommand(ctx)
	dry.SetOut(&out)
	dry.SetErr(&errOut)
	dry.SetArgs([]string{"--dry-run", "--kubeconfig=" + env.Kubeconfig, "--external-interfaces=ext0", "--internal-interfaces=int0", "--node-cidrs=10.50.0.0/24"})
	must(t, dry.Execute())
	if !strings.Contains(out.String(), "0.0.0.0/0 . 443 . tcp : accept") || !strings.Contains(errOut.String(), "policy firewall/bad ignored") {
		t.Fatalf("dry run:\n%s\n%s", out.String(), errOut.String())
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	metricsAddr := l.Addr().String()
	l.Close()
	args := []string{"--kubeconfig=" + env.Kubeconfig, "--external-interfaces=ext0", "--internal-interfaces=int0",
		"--node-cidrs=10.50.0.0/24", "--firewall-name=fw-e2e", "--metrics-bind-address=" + metricsAddr,
		"--health-probe-bind-address=0", "--resync-interval=1s", "--netns=/var/run/netns/" + ns.Name}
	agent := startAgent(t, args)

	testkit.Eventually(t, "policy statuses", func() (bool, string) {
		must(t, c.Get(ctx, client.ObjectKeyFromObject(good), good))
		must(t, c.Get(ctx, client.ObjectKeyFromObject(bad), bad))
		return good.Status.State == v1alpha1.PolicyDeployed && bad.Status.State == v1alpha1.PolicyIgnored,
			fmt.Sprintf("good %q, bad %q %q", good.Status.State, bad.Status.State, bad.Status.Message)
	})
	if !strings.Contains(bad.Status.Message, `invalid CIDR "300.0.0.0/8"`) {
		t.Errorf("ignored policy message %q", bad.Status.Message)
	}
	ruleset := ns.Exec(t, "nft", "list", "table", "inet", "metalkube")
	if !strings.Contains(ruleset, "0.0.0.0/0 . 443 . tcp counter packets") {
		t.Fatalf("ruleset in the agent's namespace:\n%s", ruleset)
	}
	testkit.Eventually(t, "metrics", func() (bool, string) {
		body, err := get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(body, `metalkube_firewall_rule_packets_total{direction="ingress",kind="policy",rule="cwnp.firewall.https.ingress-0",source="firewall/https"} 0`) &&
			strings.Contains(body, `metalkube_firewall_policies{state="ignored"} 1`), "metrics not there yet"
	})
	testkit.Eventually(t, "firewall status", func() (bool, string) {
		var fs v1alpha1.FirewallStatus
		if err := c.Get(ctx, client.ObjectKey{Namespace: "firewall", Name: "fw-e2e"}, &fs); err != nil {
			return false, err.Error()
		}
		return fs.Status.Rules == 1 && fs.Status.IgnoredPolicies == 1, fmt.Sprintf("%+v", fs.Status)
	})

	// the agent stops; its ruleset stays in force
	must(t, agent.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- agent.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop on SIGTERM")
	}
	if after := ns.Exec(t, "nft", "list", "table", "inet", "metalkube"); after != ruleset && !strings.Contains(after, "0.0.0.0/0 . 443 . tcp") {
		t.Errorf("ruleset after the agent stopped:\n%s", after)
	}
}

// startAgent runs `metalkube firewall` with args as a process (the test
// binary re-executed); it is killed when the test ends unless it has exited,
// and its output is logged when the test failed.
func startAgent(t *testing.T, args []string) *exec.Cmd {
	t.Helper()
	agent := exec.Command(os.Args[0])
	agent.Env = append(os.Environ(), agentArgsEnv+"="+strings.Join(args, "\n"))
	var logs bytes.Buffer
	agent.Stdout, agent.Stderr = &logs, &logs
	must(t, agent.Start())
	t.Cleanup(func() {
		if agent.ProcessState == nil {
			_ = agent.Process.Kill()
			_ = agent.Wait()
		}
		if t.Failed() {
			t.Logf("agent output:\n%s", logs.String())
		}
	})
	return agent
}

func get(url string) (string, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestAgentFailsClosed: an agent started on a fresh host whose API server
// does not answer installs the fail-closed table (forwarding dropped, the
// agent's ports closed to the outside) before it has read any policy.
func TestAgentFailsClosed(t *testing.T) {
	netns.Require(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("skipping: needs the nft tool (Debian package nftables)")
	}
	ns := netns.New(t, "closed")
	// an API server address where nothing listens
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	unreachable := l.Addr().String()
	l.Close()
	kubeconfig := t.TempDir() + "/kubeconfig"
	must(t, os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://%s", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, unreachable)), 0o600))
	args := []string{"--kubeconfig=" + kubeconfig, "--external-interfaces=ext0", "--internal-interfaces=int0",
		"--node-cidrs=10.50.0.0/24", "--firewall-name=", "--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--dns-proxy-address=", "--netns=/var/run/netns/" + ns.Name}
	startAgent(t, args)
	testkit.Eventually(t, "the fail-closed table", func() (bool, string) {
		out, err := exec.Command("ip", "netns", "exec", ns.Name, "nft", "list", "table", "inet", "metalkube").CombinedOutput()
		return err == nil && strings.Contains(string(out), "policy drop;") && strings.Contains(string(out), "fail closed"), string(out)
	})
}
