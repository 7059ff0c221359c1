package ruleset_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	"github.com/metalkube/metalkube/components/firewall/compile"
	"github.com/metalkube/metalkube/components/firewall/controller/ruleset"
	"github.com/metalkube/metalkube/components/firewall/internal/fixture"
	"github.com/metalkube/metalkube/components/firewall/internal/topology"
	"github.com/metalkube/metalkube/components/firewall/nft"
	"github.com/metalkube/metalkube/shared/testkit/netns"
)

// scalePolicies is how many policies of the shape TestScale creates.
const scalePolicies = 10000

// TestScale runs the controller against the real API server with 10,000
// policies of the issue's shape ("from one /32 to TCP 80, 443 and
// 8000-8080") and a policy over the size caps, and checks with real traffic
// between namespaces that the last policy created is enforced, that every
// policy reaches the kernel, that the huge policy is ignored with its reason
// while the rest applies, and that a deletion is revoked. How long each took
// is logged (go test -v -run TestScale); it is not asserted, beyond generous
// time limits for the test as such.
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping 10,000 policies in -short mode")
	}
	netns.Require(t)
	ctx, cancel := context.WithCancel(logrContext(t))
	defer cancel()
	top := topology.New(t)
	var ln net.Listener
	must(t, top.Int.Do(func() (err error) { ln, err = net.Listen("tcp", ":443"); return err }))
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// passes says whether a new connection from the outside to 10.50.0.2:443 gets through.
	passes := func() bool {
		var c net.Conn
		err := top.Ext.Do(func() (err error) { c, err = net.DialTimeout("tcp", "10.50.0.2:443", 300*time.Millisecond); return err })
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	if !passes() {
		t.Fatal("no traffic through the topology without a ruleset")
	}

	applier, err := nft.NewApplier(nftables.WithNetNSFd(top.FW.FD()))
	must(t, err)
	defer applier.Close()
	const ns = "scale"
	opts := ruleset.AddOptions{Config: fixture.Config(), Namespace: ns, FirewallName: "fw-scale",
		ResyncInterval: 10 * time.Second, AgentVersion: "test", Applier: applier}
	skip := true // TestController's manager registered the controller name in this process
	mgr, err := env.NewManager(ruleset.ManagerOptions(opts), func(o *manager.Options) {
		o.HealthProbeBindAddress = "0"
		o.Controller.SkipNameValidation = &skip
	})
	must(t, err)
	must(t, ruleset.AddToManager(ctx, mgr, opts))
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	defer func() { cancel(); <-stopped }()
	c := env.Client
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	// waitFor probes until f holds and returns when the first probe that
	// saw it started (a dropped connection takes the dial timeout to show).
	waitFor := func(what string, limit time.Duration, f func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			probe := time.Now()
			if f() {
				return probe.Sub(start)
			}
			if time.Since(start) > limit {
				t.Fatalf("%s: not after %v", what, limit)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("the empty ruleset drops", time.Minute, func() bool { return !passes() })

	// 10,000 policies from 32 writers, the huge one half-way
	policy := func(name string, spec v1alpha1.PolicySpec) *v1alpha1.ClusterwideNetworkPolicy {
		return &v1alpha1.ClusterwideNetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	}
	var blocks []networkingv1.IPBlock
	for i := 0; i < compile.MaxBlocks; i++ {
		blocks = append(blocks, fixture.Block(fmt.Sprintf("198.18.%d.%d/32", i>>8, i&0xff)))
	}
	var ports []networkingv1.NetworkPolicyPort
	for i := 0; i < 50; i++ {
		ports = append(ports, fixture.TCP(int32(20000+i)))
	}
	huge := policy("huge", v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{From: blocks, Ports: ports}, {From: blocks, Ports: ports}}})
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= scalePolicies {
					return
				}
				if i == scalePolicies/2 {
					if err := c.Create(ctx, huge); err != nil {
						t.Errorf("create huge policy: %v", err)
					}
				}
				p := policy(fmt.Sprintf("p%05d", i), v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{
					From:  []networkingv1.IPBlock{fixture.Block(fmt.Sprintf("100.%d.%d.%d/32", 64+i>>16, (i>>8)&0xff, i&0xff))},
					Ports: []networkingv1.NetworkPolicyPort{fixture.TCP(80), fixture.TCP(443), fixture.TCP(8000, 8080)}}}})
				if err := c.Create(ctx, p); err != nil {
					t.Errorf("create %s: %v", p.Name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	created := time.Since(start)
	last := policy("traffic", v1alpha1.PolicySpec{Ingress: []v1alpha1.IngressRule{{
		From: []networkingv1.IPBlock{fixture.Block("203.0.113.0/24")}, Ports: []networkingv1.NetworkPolicyPort{fixture.TCP(443)}}}})
	must(t, c.Create(ctx, last))
	enforced := waitFor("the last policy enforced", 5*time.Minute, passes)
	t.Logf("%d policies (and the huge one) created in %v; the last policy enforced %v after its creation, %v after the first",
		scalePolicies, created.Round(time.Millisecond), enforced.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// every policy is in the kernel, counted under its rule's name
	counters, err := applier.Counters("metalkube")
	must(t, err)
	missing := 0
	for i := 0; i < scalePolicies; i++ {
		if _, ok := counters[fmt.Sprintf("cwnp.%s.p%05d.ingress-0", ns, i)]; !ok {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d policies have no elements in the kernel", missing, scalePolicies)
	}
	t.Logf("kernel holds the elements of all %d policies, %v after the first was created", scalePolicies-missing, time.Since(start).Round(time.Millisecond))

	// a revocation with 10,000 present
	must(t, c.Delete(ctx, last))
	revoked := waitFor("the deleted policy revoked", time.Minute, func() bool { return !passes() })
	t.Logf("deletion revoked %v after the delete, with %d policies present", revoked.Round(time.Millisecond), scalePolicies)

	// the huge policy is ignored with its reason; the rest applied
	ignored := waitFor("the huge policy marked ignored", 10*time.Minute, func() bool {
		if err := c.Get(ctx, client.ObjectKeyFromObject(huge), huge); err != nil {
			return false
		}
		return huge.Status.State == v1alpha1.PolicyIgnored
	})
	t.Logf("huge policy ignored (%q), status %v after the delete", huge.Status.Message, ignored.Round(time.Millisecond))
}
