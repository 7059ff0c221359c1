package ruleset_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	metalstackv1 "github.com/metalkube/metalkube/components/firewall/apis/metalstack/v1"
	"github.com/metalkube/metalkube/components/firewall/controller/ruleset"
	"github.com/metalkube/metalkube/components/firewall/internal/fixture"
	"github.com/metalkube/metalkube/components/firewall/nft"
	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit"
	"github.com/metalkube/metalkube/shared/testkit/netns"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{
		CRDPaths: []string{"../../config/crd", "../../config/crd-metalstack"},
		Scheme:   ruleset.NewScheme(),
	}, &env))
}

func TestController(t *testing.T) {
	netns.Require(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("skipping: needs the nft tool (Debian package nftables)")
	}
	ctx, cancel := context.WithCancel(logrContext(t))
	defer cancel()
	fw := netns.New(t, "ctrl")
	applier, err := nft.NewApplier(nftables.WithNetNSFd(fw.FD()))
	if err != nil {
		t.Fatal(err)
	}
	defer applier.Close()
	opts := ruleset.AddOptions{
		Config: fixture.Config(), Namespace: "firewall", MetalStackPolicies: true, FirewallName: "fw-1",
		ResyncInterval: 500 * time.Millisecond, AgentVersion: "test", Applier: applier,
	}
	mgr, err := env.NewManager(ruleset.ManagerOptions(opts), func(o *manager.Options) { o.HealthProbeBindAddress = "0" })
	if err != nil {
		t.Fatal(err)
	}
	if err := ruleset.AddToManager(ctx, mgr, opts); err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	c := env.Client
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "firewall"}}))

	counters := func() map[string]nft.CounterValue {
		m, _ := applier.Counters("metalkube")
		return m
	}
	state := func(obj client.Object, status *v1alpha1.PolicyStatus, want v1alpha1.PolicyDeploymentState, msg string) func() (bool, string) {
		return func() (bool, string) {
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return false, err.Error()
			}
			return status.State == want && strings.Contains(status.Message, msg), string(status.State) + ": " + status.Message
		}
	}

	// a valid policy is deployed and its counter appears in the kernel
	good := &v1alpha1.ClusterwideNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "firewall", Name: "https"},
		Spec: v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{Ports: []networkingv1.NetworkPolicyPort{fixture.TCP(443)}}}}}
	must(t, c.Create(ctx, good))
	testkit.Eventually(t, "policy deployed", state(good, &good.Status, v1alpha1.PolicyDeployed, ""))
	if _, ok := counters()["cwnp.firewall.https.ingress-0"]; !ok {
		t.Fatalf("counter of the deployed policy missing from the kernel: %v", counters())
	}

	// bad policies are ignored with a clear message; the kernel ruleset stays
	before := fw.Exec(t, "nft", "list", "table", "inet", "metalkube")
	sctp := corev1.ProtocolSCTP
	port := func(p networkingv1.NetworkPolicyPort) []v1alpha1.EgressRule {
		return []v1alpha1.EgressRule{{Ports: []networkingv1.NetworkPolicyPort{p}}}
	}
	for _, bad := range []struct {
		name string
		spec v1alpha1.PolicySpec
		msg  string
	}{
		{"bad-cidr", v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{From: []networkingv1.IPBlock{fixture.Block("10.0.0.0/33")}}}}, "invalid CIDR"},
		{"port-zero", v1alpha1.PolicySpec{Egress: port(fixture.TCP(0))}, "port 0 out of range"},
		{"endport-below", v1alpha1.PolicySpec{Egress: port(fixture.TCP(100, 50))}, "endPort 50 is below port 100"},
		{"sctp", v1alpha1.PolicySpec{Egress: port(networkingv1.NetworkPolicyPort{Protocol: &sctp, Port: fixture.TCP(9).Port})}, `unsupported protocol "SCTP"`},
	} {
		p := &v1alpha1.ClusterwideNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "firewall", Name: bad.name}, Spec: bad.spec}
		must(t, c.Create(ctx, p))
		testkit.Eventually(t, bad.name+" ignored", state(p, &p.Status, v1alpha1.PolicyIgnored, bad.msg))
	}
	time.Sleep(time.Second) // two resyncs
	if after := fw.Exec(t, "nft", "list", "table", "inet", "metalkube"); after != before {
		t.Errorf("ignored policies changed the kernel ruleset:\n%s", after)
	}

	// a metal-stack.io/v1 policy carries over unchanged
	ms := &metalstackv1.ClusterwideNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "firewall", Name: "legacy"},
		Spec: v1alpha1.PolicySpec{Egress: []v1alpha1.EgressRule{{To: []networkingv1.IPBlock{fixture.Block("0.0.0.0/0")}, Ports: []networkingv1.NetworkPolicyPort{fixture.UDP(53)}}}}}
	must(t, c.Create(ctx, ms))
	testkit.Eventually(t, "metal-stack policy deployed", state(ms, &ms.Status, v1alpha1.PolicyDeployed, ""))
	if _, ok := counters()["cwnp.metal-stack.io.firewall.legacy.egress-0"]; !ok {
		t.Errorf("counter of the metal-stack policy missing: %v", counters())
	}

	// a LoadBalancer Service becomes an ingress rule once it has an IP
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 8080, Protocol: corev1.ProtocolTCP}}}}
	must(t, c.Create(ctx, svc))
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "10.50.1.10"}}
	must(t, c.Status().Update(ctx, svc))
	testkit.Eventually(t, "service rule", func() (bool, string) {
		_, ok := counters()["svc.default.web"]
		return ok, "no counter svc.default.web"
	})

	// drift is repaired by the periodic resync
	want := fw.Exec(t, "nft", "list", "table", "inet", "metalkube")
	fw.Exec(t, "nft", "flush", "chain", "inet", "metalkube", "forward")
	testkit.Eventually(t, "drift repaired", func() (bool, string) {
		got := fw.Exec(t, "nft", "list", "chain", "inet", "metalkube", "forward")
		return strings.Contains(got, "ct state established,related"), got
	})
	_ = want

	// the firewall's status object
	testkit.Eventually(t, "firewall status", func() (bool, string) {
		var fs v1alpha1.FirewallStatus
		if err := c.Get(ctx, client.ObjectKey{Namespace: "firewall", Name: "fw-1"}, &fs); err != nil {
			return false, err.Error()
		}
		s := fs.Status
		return s.Rules == 3 && s.DeployedPolicies == 2 && s.IgnoredPolicies == 4 && s.AgentVersion == "test" && s.LastApplied != nil,
			strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(toString(s), "\n", " "), "  ", " "))
	})

	// deleting the policy removes its rule
	must(t, c.Delete(ctx, good))
	testkit.Eventually(t, "rule removed", func() (bool, string) {
		_, ok := counters()["cwnp.firewall.https.ingress-0"]
		return !ok, "counter still present"
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
