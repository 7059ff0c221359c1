package shoot

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
	"github.com/metalkube/metalkube/components/extension/controller/infrastructure"
	fwv1alpha1 "github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/shared/testkit/netns"
)

// The metal-stack firewall step's network, in namespaces the flow creates:
//
//	out   br0 203.0.113.2/24: the outside (servers on 8443, allowed by a
//	      policy, and 9443, allowed by none)
//	node  br0 <node network>.200: a node of the shoot (a server on 81,
//	      which nothing allows in)
//	fw-N  ext0 203.0.113.(10+N) on out's bridge, int0 <node network>.(10+N)
//	      on node's bridge: one per firewall machine metal-api allocated,
//	      running the agent its user data starts
//
// The flow plays the switch fabric: out's route to the node network and
// node's default route point at the newest firewall whose agent reports an
// applied ruleset (a firewall announces its routes once it filters), and a
// firewall's namespace goes only after metal-api freed its machine and the
// routes left it.
const (
	msOutAddr     = "203.0.113.2"
	msAllowedPort = "8443"
	msDeniedPort  = "9443"
	msNodePort    = "81"
	msPolicy      = "allow-egress-8443-metalstack"
	// probeEvery is how often each probe connects.
	probeEvery = 20 * time.Millisecond
	// allowedTimeout bounds an allowed connection; deniedTimeout a
	// disallowed one: on these veths a connection the firewall lets through
	// is up in well under a millisecond, so a short timeout lets the
	// disallowed probes look often.
	allowedTimeout = 300 * time.Millisecond
	deniedTimeout  = 100 * time.Millisecond
	// allowedProbes and deniedProbes run in parallel per direction: while
	// one waits for a dropped connection to time out, the others keep
	// looking.
	allowedProbes = 4
	deniedProbes  = 4
)

// fwMachine is an emulated firewall machine: a namespace running the agent
// its user data starts.
type fwMachine struct {
	id, name     string
	index        int
	ns           *netns.NS
	proc         *framework.Process
	extIP, intIP string
	stop         context.CancelFunc
}

// fabric boots the firewall machines metal-api allocates and routes through
// the ready one.
type fabric struct {
	f          *Flow
	out, node  *netns.NS
	nodePrefix netip.Prefix
	mu         sync.Mutex
	machines   map[string]*fwMachine
	active     string // machine ID the routes point at
	announce   announce
	booted     int
	err        error
	// notes and secrets wait for the flow's goroutine (flush): its output
	// and secret list are not shared with the fabric's goroutine.
	notes   []string
	secrets []framework.Secret
	procs   []*framework.Process
	cancel  context.CancelFunc
	done    chan struct{}
}

// firewallSpec is the firewall of the metal-stack shoot; extra settings
// change it (and so roll it).
func firewallSpec(rateMbit int32) *v1alpha1.Firewall {
	fw := &v1alpha1.Firewall{Enabled: true, Size: "c1-large", Image: "firewall-ubuntu-3.0", Networks: []string{LBNetwork}}
	if rateMbit > 0 {
		fw.RateLimits = []v1alpha1.RateLimit{{Network: LBNetwork, RateMbit: rateMbit}}
	}
	return fw
}

// setFirewall writes the firewall into the shoot's InfrastructureConfig, in
// the Infrastructure and the Cluster, as gardenlet does on a Shoot change.
func (f *Flow) setFirewall(ctx context.Context, fw *v1alpha1.Firewall) error {
	c := f.Env.Client
	infra := &extensionsv1alpha1.Infrastructure{ObjectMeta: metav1.ObjectMeta{Name: "dev", Namespace: f.ns}}
	if err := c.Get(ctx, client.ObjectKeyFromObject(infra), infra); err != nil {
		return err
	}
	cfg, err := codec.New().InfrastructureConfig(infra.Spec.ProviderConfig)
	if err != nil {
		return err
	}
	cfg.Firewall = fw
	raw, err := codec.Encode(cfg, v1alpha1.KindInfrastructureConfig)
	if err != nil {
		return err
	}
	cl := &extensionsv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: f.ns}}
	if err := c.Get(ctx, client.ObjectKeyFromObject(cl), cl); err != nil {
		return err
	}
	var shoot map[string]any
	if err := json.Unmarshal(cl.Spec.Shoot.Raw, &shoot); err != nil {
		return err
	}
	var ic map[string]any
	_ = json.Unmarshal(raw.Raw, &ic)
	shoot["spec"].(map[string]any)["provider"].(map[string]any)["infrastructureConfig"] = ic
	cl.Spec.Shoot.Raw, _ = json.Marshal(shoot)
	cl.Spec.Shoot.Object = nil
	if err := c.Update(ctx, cl); err != nil {
		return err
	}
	infra.Spec.ProviderConfig = raw
	return c.Update(ctx, infra)
}

// infraStatus returns the Infrastructure and its providerStatus.
func (f *Flow) infraStatus(ctx context.Context) (*extensionsv1alpha1.Infrastructure, *v1alpha1.InfrastructureStatus, error) {
	infra := &extensionsv1alpha1.Infrastructure{ObjectMeta: metav1.ObjectMeta{Name: "dev", Namespace: f.ns}}
	if err := f.Env.Client.Get(ctx, client.ObjectKeyFromObject(infra), infra); err != nil {
		return nil, nil, err
	}
	if infra.Status.ProviderStatus == nil {
		return infra, &v1alpha1.InfrastructureStatus{}, nil
	}
	st, err := codec.New().InfrastructureStatus(infra.Status.ProviderStatus)
	return infra, st, err
}

// firewallRoll runs the shoot's firewall on metal-stack and rolls it twice
// under traffic: the extension allocates the firewall, the flow boots it (a
// namespace running the agent from its user data), a policy is enforced
// with real packets, each changed spec brings a new firewall which takes
// over before the old one is freed; allowed traffic is probed throughout
// (the longest interruption of each roll is reported) and disallowed
// traffic must never pass.
func (f *Flow) firewallRoll(ctx context.Context) error {
	if ok, why := netns.Available(); !ok {
		return fmt.Errorf("firewall step needs network namespaces: %s", why)
	}
	c := f.Env.Client
	// gardenlet's Secret the extension reaches the shoot with (here the test
	// control plane).
	admin, err := os.ReadFile(f.kubeconfig)
	if err != nil {
		return err
	}
	gs := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gardener", Namespace: f.ns}, Data: map[string][]byte{"kubeconfig": admin}}
	if err := c.Create(ctx, gs); client.IgnoreAlreadyExists(err) != nil {
		return err
	}
	_, st, err := f.infraStatus(ctx)
	if err != nil {
		return err
	}
	if st.Network == nil || len(st.Network.Prefixes) == 0 {
		return fmt.Errorf("infrastructure status has no node network: %+v", st.Network)
	}
	prefix, err := netip.ParsePrefix(st.Network.Prefixes[0])
	if err != nil {
		return err
	}
	fb, err := newFabric(f, prefix)
	if err != nil {
		return err
	}
	f.fabric = fb
	nodeAddr := nth(prefix, 200)
	for _, l := range []struct {
		ns   *netns.NS
		addr string
	}{{fb.out, net.JoinHostPort(msOutAddr, msAllowedPort)}, {fb.out, net.JoinHostPort(msOutAddr, msDeniedPort)}, {fb.node, net.JoinHostPort(nodeAddr, msNodePort)}} {
		ln, err := l.ns.Listen(l.addr)
		if err != nil {
			return err
		}
		defer ln.Close()
		go serve(ln)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fwv1alpha1.DefaultNamespace}}); client.IgnoreAlreadyExists(err) != nil {
		return err
	}
	policy := &fwv1alpha1.ClusterwideNetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: msPolicy, Namespace: fwv1alpha1.DefaultNamespace},
		Spec: fwv1alpha1.PolicySpec{Egress: []fwv1alpha1.EgressRule{{
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr(corev1.ProtocolTCP), Port: ptr(intstr.FromInt32(8443))}},
			To:    []networkingv1.IPBlock{{CIDR: msOutAddr + "/32"}},
		}}},
	}
	if err := c.Create(ctx, policy); client.IgnoreAlreadyExists(err) != nil {
		return err
	}
	defer func() { _ = c.Delete(context.WithoutCancel(ctx), policy) }()

	// Probes run from before the first firewall: nothing may pass that the
	// policy does not allow, ever.
	allowed := newProbe(fb.node, net.JoinHostPort(msOutAddr, msAllowedPort), allowedTimeout)
	denied := []*probe{newProbe(fb.node, net.JoinHostPort(msOutAddr, msDeniedPort), deniedTimeout), newProbe(fb.out, net.JoinHostPort(nodeAddr, msNodePort), deniedTimeout)}
	pctx, stopProbes := context.WithCancel(ctx)
	defer stopProbes()
	var wg sync.WaitGroup
	for range allowedProbes {
		wg.Go(func() { allowed.run(pctx) })
	}
	for _, p := range denied {
		for range deniedProbes {
			wg.Go(func() { p.run(pctx) })
		}
	}

	// The first firewall.
	if err := f.setFirewall(ctx, firewallSpec(0)); err != nil {
		return err
	}
	first, err := f.waitFirewallAtRest(ctx, "")
	if err != nil {
		return err
	}
	f.detail("firewall %s allocated by the extension, booted in namespace %s, its agent reports Ready; routes point at it", first.name, first.ns.Name)
	if err := framework.Eventually(ctx, "allowed egress through the firewall", time.Minute, interval, func(context.Context) (bool, error) {
		return expect(fb.node, net.JoinHostPort(msOutAddr, msAllowedPort), true) == nil, nil
	}); err != nil {
		return err
	}
	// Two rolls, each changing the firewall's rate limit: the first with
	// the fabric moving the routes once the new agent applied its ruleset
	// (a firewall announcing itself once it filters), the second moving
	// them as soon as the new agent's fail-closed table is in (a firewall
	// announcing itself at boot: the worst case for allowed traffic, and
	// the fail-closed table under traffic).
	prev := first
	for _, r := range []struct {
		announce announce
		rateMbit int32
	}{{announceReady, 1000}, {announceBoot, 2000}} {
		fb.setAnnounce(r.announce)
		rollStart := time.Now()
		if err := f.setFirewall(ctx, firewallSpec(r.rateMbit)); err != nil {
			return err
		}
		next, err := f.waitFirewallAtRest(ctx, prev.name)
		if err != nil {
			return err
		}
		rollEnd := time.Now()
		time.Sleep(time.Second) // traffic after the roll, on the new firewall
		f.flushFabric()
		gap, errs, total := allowed.longestGap(rollStart, time.Now())
		failed := len(errs)
		f.detail("roll %s -> %s, routes moved %s, took %s (new allocated, booted; routes moved; Ready; old freed by the extension)",
			prev.name, next.name, r.announce, rollEnd.Sub(rollStart).Round(time.Millisecond))
		f.detail("allowed traffic (%s -> %s:%s, %d probes in parallel, each a connection every %s at most): %d connections during and 1s after the roll, %d failed; longest time between two connections that got through: %s",
			fb.node.Name, msOutAddr, msAllowedPort, allowedProbes, probeEvery, total, failed, gap.Round(time.Millisecond))
		if failed > 0 {
			slices.Sort(errs)
			f.detail("failures: %s", strings.Join(slices.Compact(errs), "; "))
		}
		f.fwRolls = append(f.fwRolls, RollMeasurement{Announce: string(r.announce), Interruption: gap, Failed: failed, Connections: total})
		prev = next
	}
	stopProbes()
	wg.Wait()
	var passed []string
	for _, p := range denied {
		n, ok := p.counts()
		f.detail("disallowed traffic (%s -> %s, %d probes in parallel): %d attempts from before the first firewall to after the roll, %d passed", p.from.Name, p.to, deniedProbes, n, ok)
		if ok > 0 {
			passed = append(passed, fmt.Sprintf("%s -> %s passed %d times", p.from.Name, p.to, ok))
		}
	}
	if len(passed) > 0 {
		return fmt.Errorf("disallowed traffic passed: %s", strings.Join(passed, "; "))
	}
	if n, _ := allowed.counts(); n == 0 {
		return errors.New("the allowed probe made no connection")
	}
	return fb.failed()
}

// RollMeasurement is what a firewall roll measured.
type RollMeasurement struct {
	// Announce is when the fabric moved the routes to the new firewall.
	Announce string
	// Interruption is the longest time allowed traffic did not get through
	// from the roll's start to its end (last success before a failure to
	// the first success after).
	Interruption time.Duration
	// Failed of Connections attempted during and after the roll failed.
	Failed, Connections int
}

// RollsMeasured returns the rolls' measurements.
func (f *Flow) RollsMeasured() []RollMeasurement { return slices.Clone(f.fwRolls) }

// announce is when a firewall attracts traffic.
type announce string

const (
	// announceReady: once its agent reports an applied ruleset.
	announceReady announce = "once the new agent applied its ruleset"
	// announceBoot: as soon as its agent installed a table (the fail-closed
	// one at first).
	announceBoot announce = "as soon as the new agent's fail-closed table was in"
)

// waitFirewallAtRest waits until the Infrastructure succeeded with one
// firewall other than old, Ready, routed through and the only one booted.
func (f *Flow) waitFirewallAtRest(ctx context.Context, old string) (*fwMachine, error) {
	var at *fwMachine
	err := framework.Eventually(ctx, "one ready firewall at rest", 4*time.Minute, interval, func(ctx context.Context) (bool, error) {
		f.flushFabric()
		if err := f.fabric.failed(); err != nil {
			return false, err
		}
		infra, st, err := f.infraStatus(ctx)
		if err != nil {
			return false, err
		}
		op := infra.Status.LastOperation
		if op == nil || op.State != "Succeeded" || infra.Status.ObservedGeneration != infra.Generation {
			if op != nil {
				return false, fmt.Errorf("infrastructure %s: %s", op.State, op.Description)
			}
			return false, nil
		}
		// The status is as of the last reconcile: the first firewall is
		// recorded before its agent reports (nothing waits for it), a
		// replacement only once it is Ready (the old one is freed then).
		if st.Firewall == nil || st.Firewall.Name == old || len(st.Firewall.Replacing) > 0 || (old != "" && !st.Firewall.Ready) {
			return false, fmt.Errorf("firewall status %+v", st.Firewall)
		}
		f.fabric.mu.Lock()
		defer f.fabric.mu.Unlock()
		if len(f.fabric.machines) != 1 {
			return false, fmt.Errorf("%d firewall machines booted", len(f.fabric.machines))
		}
		m := f.fabric.machines[f.fabric.active]
		if m == nil || m.name != st.Firewall.Name {
			return false, fmt.Errorf("routes point at %s, not at %s", f.fabric.active, st.Firewall.Name)
		}
		at = m
		return true, nil
	})
	return at, err
}

func nth(p netip.Prefix, n int) string {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	return a.String()
}

func newFabric(f *Flow, prefix netip.Prefix) (*fabric, error) {
	pid := os.Getpid()
	out, err := netns.Create(fmt.Sprintf("mk-msout-%d", pid))
	if err != nil {
		return nil, err
	}
	node, err := netns.Create(fmt.Sprintf("mk-msnode-%d", pid))
	if err != nil {
		_ = out.Close()
		return nil, err
	}
	fb := &fabric{f: f, out: out, node: node, nodePrefix: prefix, machines: map[string]*fwMachine{}, done: make(chan struct{}), announce: announceReady}
	for _, c := range []struct {
		ns   *netns.NS
		args []string
	}{
		{out, []string{"ip", "link", "add", "br0", "type", "bridge"}},
		{out, []string{"ip", "addr", "add", msOutAddr + "/24", "dev", "br0"}},
		{out, []string{"ip", "link", "set", "br0", "up"}},
		{node, []string{"ip", "link", "add", "br0", "type", "bridge"}},
		{node, []string{"ip", "addr", "add", nth(prefix, 200) + "/" + fmt.Sprint(prefix.Bits()), "dev", "br0"}},
		{node, []string{"ip", "link", "set", "br0", "up"}},
	} {
		if _, err := c.ns.Output(c.args...); err != nil {
			fb.close()
			return nil, err
		}
	}
	bctx, cancel := context.WithCancel(context.Background())
	fb.cancel = cancel
	go fb.run(bctx)
	return fb, nil
}

// flushFabric prints the fabric's notes and hands its secrets and agent
// processes to the flow; only
// the flow's goroutine calls it.
func (f *Flow) flushFabric() {
	if f.fabric == nil {
		return
	}
	f.fabric.mu.Lock()
	notes, secrets, procs := f.fabric.notes, f.fabric.secrets, f.fabric.procs
	f.fabric.notes, f.fabric.secrets, f.fabric.procs = nil, nil, nil
	f.fabric.mu.Unlock()
	// The agents' logs are scanned for secrets like every process's.
	f.procs = append(f.procs, procs...)
	for _, n := range notes {
		f.detail("%s", n)
	}
	f.secrets = append(f.secrets, secrets...)
}

// stopFabric ends the fabric and removes its namespaces (Flow.Stop).
func (f *Flow) stopFabric() {
	if f.fabric != nil {
		f.fabric.close()
		f.flushFabric()
		f.fabric = nil
	}
}

func (fb *fabric) failed() error {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.err
}

// run boots new firewall machines, moves the routes to the newest ready
// one and shuts freed ones down, until ctx ends.
func (fb *fabric) run(ctx context.Context) {
	defer close(fb.done)
	for {
		if err := fb.step(ctx); err != nil {
			fb.mu.Lock()
			fb.err = err
			fb.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (fb *fabric) step(ctx context.Context) error {
	api := fb.f.ms.api
	allocated := api.Allocated()
	for _, id := range allocated {
		fb.mu.Lock()
		_, known := fb.machines[id]
		fb.mu.Unlock()
		if known || api.Power(id) != "ON" {
			continue
		}
		ud, err := base64.StdEncoding.DecodeString(api.UserData(id))
		if err != nil {
			continue
		}
		args, kc, err := infrastructure.AgentCommand(ud)
		if err != nil {
			continue // not a firewall (a worker, a bastion)
		}
		if err := fb.boot(ctx, id, args, kc); err != nil {
			return fmt.Errorf("boot firewall machine %s: %w", id, err)
		}
	}
	// Route through the newest firewall that announces itself.
	fb.mu.Lock()
	var ready *fwMachine
	for _, m := range fb.machines {
		if !slices.Contains(allocated, m.id) || (ready != nil && ready.index > m.index) {
			continue
		}
		if fb.announces(ctx, m) {
			ready = m
		}
	}
	fb.mu.Unlock()
	if ready != nil && ready.id != fb.active {
		if err := fb.route(ready); err != nil {
			return err
		}
	}
	// Shut down the machines metal-api freed, once no route points at them.
	fb.mu.Lock()
	defer fb.mu.Unlock()
	for id, m := range fb.machines {
		if slices.Contains(allocated, id) || id == fb.active {
			continue
		}
		m.shutdown()
		delete(fb.machines, id)
		fb.notes = append(fb.notes, fmt.Sprintf("firewall machine %s (%s) freed by the extension: namespace %s removed", m.name, id, m.ns.Name))
	}
	return nil
}

// announces reports whether m attracts traffic: with announceReady once
// its FirewallStatus shows an applied ruleset, with announceBoot once its
// agent's table is in the kernel (the agent's first act is the fail-closed
// table).
func (fb *fabric) announces(ctx context.Context, m *fwMachine) bool {
	if fb.announce == announceBoot {
		_, err := m.ns.Output("nft", "list", "table", "inet", "metalkube")
		return err == nil
	}
	fs := &fwv1alpha1.FirewallStatus{}
	err := fb.f.Env.Client.Get(ctx, client.ObjectKey{Namespace: fwv1alpha1.DefaultNamespace, Name: m.name}, fs)
	return err == nil && fs.Status.LastApplied != nil && fs.Status.Error == ""
}

func (fb *fabric) setAnnounce(a announce) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	fb.announce = a
}

// route points both sides at m: node's default route and out's route to
// the node network.
func (fb *fabric) route(m *fwMachine) error {
	if _, err := fb.node.Output("ip", "route", "replace", "default", "via", m.intIP); err != nil {
		return err
	}
	if _, err := fb.out.Output("ip", "route", "replace", fb.nodePrefix.Masked().String(), "via", m.extIP); err != nil {
		return err
	}
	fb.mu.Lock()
	fb.active = m.id
	fb.notes = append(fb.notes, fmt.Sprintf("routes now through firewall %s (%s)", m.name, fb.announce))
	fb.mu.Unlock()
	return nil
}

// boot plays a firewall machine's boot: its namespace with ext0 and int0
// on the fabric, and the agent started as its user data says, with the
// user data's kubeconfig.
func (fb *fabric) boot(ctx context.Context, id string, args []string, kubeconfig []byte) error {
	fb.mu.Lock()
	fb.booted++
	n := fb.booted
	fb.mu.Unlock()
	name := ""
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--firewall-name="); ok {
			name = v
		}
	}
	if args[0] != infrastructure.AgentBinary || args[1] != "firewall" || name == "" {
		return fmt.Errorf("user data runs %v, want %s firewall with --firewall-name", args, infrastructure.AgentBinary)
	}
	ns, err := netns.Create(fmt.Sprintf("mk-msfw%d-%d", n, os.Getpid()))
	if err != nil {
		return err
	}
	m := &fwMachine{id: id, name: name, index: n, ns: ns, extIP: fmt.Sprintf("203.0.113.%d", 10+n), intIP: nth(fb.nodePrefix, 10+n)}
	fail := func(err error) error { _ = ns.Close(); return err }
	ext, in := fmt.Sprintf("fw%dext", n), fmt.Sprintf("fw%dint", n)
	for _, a := range [][]string{
		{"link", "add", "ext0", "netns", ns.Name, "type", "veth", "peer", "name", ext, "netns", fb.out.Name},
		{"link", "add", "int0", "netns", ns.Name, "type", "veth", "peer", "name", in, "netns", fb.node.Name},
	} {
		if err := netns.IP(a...); err != nil {
			return fail(err)
		}
	}
	for _, c := range []struct {
		ns   *netns.NS
		args []string
	}{
		{fb.out, []string{"ip", "link", "set", ext, "master", "br0", "up"}},
		{fb.node, []string{"ip", "link", "set", in, "master", "br0", "up"}},
		{ns, []string{"sysctl", "-qw", "net.ipv4.ip_forward=1"}},
		{ns, []string{"ip", "addr", "add", m.extIP + "/24", "dev", "ext0"}},
		{ns, []string{"ip", "addr", "add", m.intIP + "/" + fmt.Sprint(fb.nodePrefix.Bits()), "dev", "int0"}},
		{ns, []string{"ip", "link", "set", "ext0", "up"}},
		{ns, []string{"ip", "link", "set", "int0", "up"}},
	} {
		if _, err := c.ns.Output(c.args...); err != nil {
			return fail(err)
		}
	}
	// The shoot's API server (the test control plane on loopback) at the
	// same address inside the namespace, so the user data's kubeconfig works.
	kc, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return fail(err)
	}
	for _, cl := range kc.Clusters {
		u, err := url.Parse(cl.Server)
		if err != nil {
			return fail(err)
		}
		mctx, cancel := context.WithCancel(ctx)
		m.stop = cancel
		if err := ns.Forward(mctx, u.Host); err != nil {
			cancel()
			return fail(err)
		}
	}
	fb.mu.Lock()
	for _, ai := range kc.AuthInfos {
		fb.secrets = append(fb.secrets, framework.Secret{Name: "the firewall's token", Value: []byte(ai.Token)})
	}
	fb.mu.Unlock()
	dir := filepath.Join(fb.f.LogDir, "firewall-"+name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	kcFile := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kcFile, kubeconfig, 0o600); err != nil {
		return fail(err)
	}
	run := []string{}
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "--kubeconfig=") {
			a = "--kubeconfig=" + kcFile
		}
		run = append(run, a)
	}
	// What differs from a machine: no metrics or health ports, state under
	// the log directory, no nflog consumer.
	run = append(run, "--metrics-bind-address=0", "--health-probe-bind-address=0", "--fqdn-state-file="+filepath.Join(dir, "fqdn.json"),
		"--log-group=0", "--log-format="+fb.f.LogFormat)
	p, err := framework.StartProcess(framework.StartProcessInput{Name: "metalkube-firewall-" + name, Path: fb.f.metalkube, Netns: ns.Name, LogDir: fb.f.LogDir, Args: run})
	if err != nil {
		return fail(err)
	}
	m.proc = p
	fb.mu.Lock()
	fb.machines[id] = m
	fb.procs = append(fb.procs, p)
	fb.notes = append(fb.notes, fmt.Sprintf("firewall machine %s (%s) booted: namespace %s, agent %s (log %s)", name, id, ns.Name, strings.Join(args[:2], " "), p.Log))
	fb.mu.Unlock()
	return nil
}

func (m *fwMachine) shutdown() {
	if m.proc != nil {
		m.proc.Stop(5 * time.Second)
	}
	if m.stop != nil {
		m.stop()
	}
	_ = m.ns.Close()
}

// close stops the fabric and removes every namespace it made.
func (fb *fabric) close() {
	if fb.cancel != nil {
		fb.cancel()
		<-fb.done
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	for id, m := range fb.machines {
		m.shutdown()
		delete(fb.machines, id)
	}
	_ = fb.out.Close()
	_ = fb.node.Close()
}

// probe connects to an address again and again and records each result.
type probe struct {
	from    *netns.NS
	to      string
	timeout time.Duration
	mu      sync.Mutex
	results []probeResult
}

type probeResult struct {
	at  time.Time
	ok  bool
	err string
}

func newProbe(from *netns.NS, to string, timeout time.Duration) *probe {
	return &probe{from: from, to: to, timeout: timeout}
}

// connect connects to p.to and waits for the echo; nil when both worked.
func (p *probe) connect() error {
	c, err := p.from.Dial(p.to, p.timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	buf := make([]byte, 5)
	_, err = c.Read(buf)
	return err
}

func (p *probe) run(ctx context.Context) {
	for ctx.Err() == nil {
		start := time.Now()
		err := p.connect()
		r := probeResult{at: start, ok: err == nil}
		if err != nil {
			r.err = err.Error()
		}
		p.mu.Lock()
		p.results = append(p.results, r)
		p.mu.Unlock()
		if d := probeEvery - time.Since(start); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
	}
}

// counts returns the attempts and the connections that got through.
func (p *probe) counts() (int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ok := 0
	for _, r := range p.results {
		if r.ok {
			ok++
		}
	}
	return len(p.results), ok
}

// longestGap is the longest time without a successful connection among the
// connections started between from and to (and the last success before
// from): from the last success before a run of failures to the first
// success after it. It also returns the failures' errors and the attempts
// counted.
func (p *probe) longestGap(from, to time.Time) (time.Duration, []string, int) {
	p.mu.Lock()
	rs := slices.Clone(p.results)
	p.mu.Unlock()
	slices.SortFunc(rs, func(a, b probeResult) int { return a.at.Compare(b.at) })
	first := slices.IndexFunc(rs, func(r probeResult) bool { return !r.at.Before(from) })
	if first < 0 {
		return 0, nil, 0
	}
	for first > 0 && !rs[first-1].ok {
		first--
	}
	if first > 0 {
		first-- // the last success before from
	}
	rs = slices.DeleteFunc(rs[first:], func(r probeResult) bool { return r.at.After(to) })
	var gap time.Duration
	var lastOK time.Time
	var failed []string
	for _, r := range rs {
		if !r.ok {
			failed = append(failed, r.err)
			continue
		}
		if !lastOK.IsZero() && r.at.Sub(lastOK) > gap {
			gap = r.at.Sub(lastOK)
		}
		lastOK = r.at
	}
	return gap, failed, len(rs)
}
