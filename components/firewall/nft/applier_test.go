package nft_test

import (
	"strings"
	"testing"

	"github.com/google/nftables"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	"github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/internal/fixture"
	"github.com/metalkube/metalkube/components/firewall/nft"
	"github.com/metalkube/metalkube/shared/testkit/netns"
)

func applier(t *testing.T, ns *netns.NS) *nft.Applier {
	t.Helper()
	a, err := nft.NewApplier(nftables.WithNetNSFd(ns.FD()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func list(t *testing.T, ns *netns.NS) string {
	t.Helper()
	return canonical(ns.Exec(t, "nft", "list", "table", "inet", "metalkube"))
}

func requireNft(t *testing.T) {
	t.Helper()
	netns.Require(t)
	if _, err := netnsLookPath("nft"); err != nil {
		t.Skip("skipping: needs the nft tool (Debian package nftables) to read rulesets back")
	}
}

func tables() (a, b *nft.Table) {
	in := fixture.Input()
	a = compile.Compile(fixture.Config(), in).Table
	// b: one policy more, one service less, one port changed
	in.Policies = append(in.Policies, compile.Policy{Name: "firewall/ssh", Spec: v1alpha1.PolicySpec{
		Ingress: []v1alpha1.IngressRule{{From: []networkingv1.IPBlock{fixture.Block("192.0.2.0/24")}, Ports: []networkingv1.NetworkPolicyPort{fixture.TCP(22)}}}}})
	in.Services = []corev1.Service{in.Services[0]}
	in.Policies[0].Spec.Ingress[0].Ports = []networkingv1.NetworkPolicyPort{fixture.TCP(8443)}
	b = compile.Compile(fixture.Config(), in).Table
	return a, b
}

// TestIncrementalEqualsFull: an incremental change leaves the kernel with
// exactly the ruleset a full apply of the new table gives.
func TestIncrementalEqualsFull(t *testing.T) {
	requireNft(t)
	inc, full := netns.New(t, "inc"), netns.New(t, "full")
	ta, tb := tables()
	ai := applier(t, inc)
	if r, err := ai.Apply(ta); err != nil || !r.Full {
		t.Fatalf("first apply: %+v %v, want a full apply", r, err)
	}
	r, err := ai.Apply(tb)
	if err != nil {
		t.Fatal(err)
	}
	if r.Full {
		t.Errorf("second apply replaced the table, want an incremental change")
	}
	if _, err := applier(t, full).Apply(tb); err != nil {
		t.Fatal(err)
	}
	if a, b := list(t, inc), list(t, full); a != b {
		t.Errorf("incremental and full apply differ:\n--- incremental\n%s\n--- full\n%s", a, b)
	}
	if r, err := ai.Apply(tb); err != nil || r.Messages != 0 {
		t.Errorf("applying the same table again: %+v %v, want nothing sent", r, err)
	}
	// and back
	if _, err := ai.Apply(ta); err != nil {
		t.Fatal(err)
	}
	if drift, err := ai.Drift(); err != nil || drift != "" {
		t.Errorf("drift after incremental changes: %q %v", drift, err)
	}
}

// TestFailedApplyKeepsPrevious: a batch the kernel rejects changes nothing.
func TestFailedApplyKeepsPrevious(t *testing.T) {
	requireNft(t)
	ns := netns.New(t, "fail")
	ta, tb := tables()
	a := applier(t, ns)
	if _, err := a.Apply(ta); err != nil {
		t.Fatal(err)
	}
	before := list(t, ns)
	broken := tb.Clone()
	fwd := broken.Chain(compile.ChainForward)
	fwd.Rules = append(fwd.Rules, nft.Rule{Stmts: []nft.Stmt{nft.Jump("no-such-chain")}})
	if _, err := a.Apply(broken); err == nil {
		t.Fatal("applying a rule that jumps to a missing chain succeeded")
	}
	if after := list(t, ns); after != before {
		t.Errorf("a failed apply changed the kernel ruleset:\n--- before\n%s\n--- after\n%s", before, after)
	}
	// the next apply resyncs the whole table
	if r, err := a.Apply(tb); err != nil || !r.Full {
		t.Errorf("apply after failure: %+v %v, want a full apply", r, err)
	}
}

// TestDriftRepair: changes made behind the agent's back are found and undone.
func TestDriftRepair(t *testing.T) {
	requireNft(t)
	ns := netns.New(t, "drift")
	ta, _ := tables()
	a := applier(t, ns)
	if _, err := a.Apply(ta); err != nil {
		t.Fatal(err)
	}
	want := list(t, ns)
	for _, tamper := range [][]string{
		{"nft", "flush", "chain", "inet", "metalkube", "forward"},
		{"nft", "flush", "map", "inet", "metalkube", "ingress4-stp"},
		{"nft", "add", "rule", "inet", "metalkube", "ingress", "accept"},
		{"nft", "delete", "table", "inet", "metalkube"},
		{"nft", "add", "chain", "inet", "metalkube", "intruder"},
	} {
		t.Run(strings.Join(tamper[1:], " "), func(t *testing.T) {
			ns.Exec(t, tamper...)
			drift, err := a.Drift()
			if err != nil {
				t.Fatal(err)
			}
			if drift == "" {
				t.Fatal("drift not detected")
			}
			t.Logf("drift: %s", drift)
			a.Invalidate()
			if _, err := a.Apply(ta); err != nil {
				t.Fatal(err)
			}
			if got := list(t, ns); got != want {
				t.Errorf("after repair:\n%s\nwant\n%s", got, want)
			}
			if drift, _ := a.Drift(); drift != "" {
				t.Errorf("drift after repair: %s", drift)
			}
		})
	}
}

// TestRestartKeepsRuleset: a new applier (an agent restart) leaves the
// kernel alone until it applies, and then replaces the table in one batch.
func TestRestartKeepsRuleset(t *testing.T) {
	requireNft(t)
	ns := netns.New(t, "restart")
	ta, _ := tables()
	first := applier(t, ns)
	if _, err := first.Apply(ta); err != nil {
		t.Fatal(err)
	}
	want := list(t, ns)
	first.Close()
	second := applier(t, ns)
	if got := list(t, ns); got != want {
		t.Fatal("opening a new applier changed the ruleset")
	}
	if r, err := second.Apply(ta); err != nil || !r.Full {
		t.Fatalf("first apply after restart: %+v %v", r, err)
	}
	if got := list(t, ns); got != want {
		t.Errorf("re-applying after restart changed the ruleset:\n%s", got)
	}
}
