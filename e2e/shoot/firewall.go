package shoot

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fwv1alpha1 "github.com/metalkube/metalkube/components/firewall/apis/firewall/v1alpha1"
	"github.com/metalkube/metalkube/e2e/framework"
	"github.com/metalkube/metalkube/shared/testkit/netns"
)

// The firewall step's network, all inside namespaces the flow creates:
//
//	ext  eth0 203.0.113.2/24 (an outside client and server)
//	fw   ext0 203.0.113.1/24, int0 10.250.255.1/24, forwarding; runs metalkube firewall
//	int  eth0 10.250.255.2/24 (a node of the shoot); the Service's LoadBalancer IP on lo
const (
	fwExtAddr   = "203.0.113.1/24"
	extAddr     = "203.0.113.2"
	fwIntAddr   = "10.250.255.1/24"
	intAddr     = "10.250.255.2"
	egressOK    = "8443"
	egressNotOK = "9443"
)

func (f *Flow) firewall(ctx context.Context) error {
	if ok, why := netns.Available(); !ok {
		return fmt.Errorf("firewall step needs network namespaces: %s", why)
	}
	ext, fw, in, err := topology()
	if err != nil {
		return err
	}
	defer func() { _, _, _ = ext.Close(), fw.Close(), in.Close() }()
	if _, err := in.Output("ip", "addr", "add", f.lbIP+"/32", "dev", "lo"); err != nil {
		return err
	}
	if _, err := fw.Output("ip", "route", "add", f.lbIP+"/32", "via", intAddr); err != nil {
		return err
	}
	// Servers: the Service behind its LoadBalancer IP in the node, and two
	// ports outside, one the egress policy allows.
	for _, l := range []struct {
		ns   *netns.NS
		addr string
	}{{in, net.JoinHostPort(f.lbIP, "80")}, {in, net.JoinHostPort(f.lbIP, "81")}, {ext, net.JoinHostPort(extAddr, egressOK)}, {ext, net.JoinHostPort(extAddr, egressNotOK)}} {
		ln, err := l.ns.Listen(l.addr)
		if err != nil {
			return err
		}
		defer ln.Close()
		go serve(ln)
	}
	// Without the agent the firewall namespace forwards everything: the
	// checks below can only pass because of the rules.
	if err := expect(ext, net.JoinHostPort(f.lbIP, "81"), true); err != nil {
		return fmt.Errorf("before the agent: %w", err)
	}
	host, err := url.Parse(f.Env.Config.Host)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host.Hostname()); ip != nil && !ip.IsLoopback() {
		// A real node's API server, on its bridge: the agent reaches it at
		// the same address inside its namespace.
		if _, err := fw.Output("ip", "addr", "add", host.Hostname()+"/32", "dev", "lo"); err != nil {
			return err
		}
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := fw.Forward(fctx, host.Host); err != nil {
		return err
	}
	if err := f.Env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fwv1alpha1.DefaultNamespace}}); client.IgnoreAlreadyExists(err) != nil {
		return err
	}
	policy := &fwv1alpha1.ClusterwideNetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-egress-8443", Namespace: fwv1alpha1.DefaultNamespace},
		Spec: fwv1alpha1.PolicySpec{Egress: []fwv1alpha1.EgressRule{{
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr(corev1.ProtocolTCP), Port: ptr(intstr.FromInt32(8443))}},
			To:    []networkingv1.IPBlock{{CIDR: extAddr + "/32"}},
		}}},
	}
	if err := f.Env.Client.Create(ctx, policy); err != nil {
		return err
	}
	stateDir := filepath.Join(f.LogDir, "firewall-state")
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return err
	}
	p, err := framework.StartProcess(framework.StartProcessInput{Name: "metalkube-firewall", Path: f.metalkube, Netns: fw.Name, LogDir: f.LogDir,
		Args: []string{"firewall", "--kubeconfig=" + f.kubeconfig, "--external-interfaces=ext0", "--internal-interfaces=int0",
			"--node-cidrs=" + NodePrefix.String(), "--firewall-name=e2e", "--metrics-bind-address=0", "--health-probe-bind-address=0",
			"--fqdn-state-file=" + filepath.Join(stateDir, "fqdn.json"), "--log-group=0", "--log-format=" + f.LogFormat}})
	if err != nil {
		return err
	}
	f.procs = append(f.procs, p)
	defer func() {
		p.Stop(5 * time.Second)
		f.procs = f.procs[:len(f.procs)-1]
	}()
	f.detail("metalkube firewall started in namespace %s (log %s)", fw.Name, p.Log)
	if err := framework.Eventually(ctx, "the egress policy deployed", time.Minute, interval, func(ctx context.Context) (bool, error) {
		if err := f.Env.Client.Get(ctx, client.ObjectKeyFromObject(policy), policy); err != nil {
			return false, err
		}
		return policy.Status.State == fwv1alpha1.PolicyDeployed, nil
	}); err != nil {
		return err
	}
	f.detail("policy %s deployed", policy.Name)
	checks := []struct {
		from *netns.NS
		to   string
		pass bool
		why  string
	}{
		{ext, net.JoinHostPort(f.lbIP, "80"), true, "LoadBalancer Service port 80"},
		{ext, net.JoinHostPort(f.lbIP, "81"), false, "no Service on port 81"},
		{in, net.JoinHostPort(extAddr, egressOK), true, "egress policy allows 8443"},
		{in, net.JoinHostPort(extAddr, egressNotOK), false, "no policy allows 9443"},
	}
	for _, c := range checks {
		// The agent applies Services and policies in one ruleset; give it a
		// moment to pick up the Service too.
		err := framework.Eventually(ctx, fmt.Sprintf("%s -> %s", c.from.Name, c.to), 20*time.Second, interval, func(context.Context) (bool, error) {
			return expect(c.from, c.to, c.pass) == nil, nil
		})
		if err != nil {
			return fmt.Errorf("%s (%s): %w", c.to, c.why, expect(c.from, c.to, c.pass))
		}
		verdict := "blocked"
		if c.pass {
			verdict = "passes"
		}
		f.detail("%s -> %s %s (%s)", c.from.Name, c.to, verdict, c.why)
	}
	return nil
}

// expect dials to from ns and checks that it connects (pass) or not.
func expect(ns *netns.NS, to string, pass bool) error {
	c, err := ns.Dial(to, 700*time.Millisecond)
	if err == nil {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err = c.Write([]byte("ping\n")); err == nil {
			buf := make([]byte, 5)
			_, err = c.Read(buf)
		}
	}
	switch {
	case pass && err != nil:
		return fmt.Errorf("%s -> %s should pass: %v", ns.Name, to, err)
	case !pass && err == nil:
		return fmt.Errorf("%s -> %s should be blocked, but connected", ns.Name, to)
	}
	return nil
}

func serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 64)
			n, _ := c.Read(buf)
			_, _ = c.Write(buf[:n])
		}()
	}
}

func topology() (ext, fw, in *netns.NS, err error) {
	pid := os.Getpid()
	if ext, err = netns.Create(fmt.Sprintf("mk-ext-%d", pid)); err != nil {
		return
	}
	if fw, err = netns.Create(fmt.Sprintf("mk-fw-%d", pid)); err != nil {
		return
	}
	if in, err = netns.Create(fmt.Sprintf("mk-int-%d", pid)); err != nil {
		return
	}
	for _, args := range [][]string{
		{"link", "add", "ext0", "netns", fw.Name, "type", "veth", "peer", "name", "eth0", "netns", ext.Name},
		{"link", "add", "int0", "netns", fw.Name, "type", "veth", "peer", "name", "eth0", "netns", in.Name},
	} {
		if err = netns.IP(args...); err != nil {
			return
		}
	}
	for _, c := range []struct {
		ns   *netns.NS
		args []string
	}{
		{fw, []string{"sysctl", "-qw", "net.ipv4.ip_forward=1"}},
		{fw, []string{"ip", "addr", "add", fwExtAddr, "dev", "ext0"}},
		{fw, []string{"ip", "addr", "add", fwIntAddr, "dev", "int0"}},
		{fw, []string{"ip", "link", "set", "ext0", "up"}},
		{fw, []string{"ip", "link", "set", "int0", "up"}},
		{ext, []string{"ip", "addr", "add", extAddr + "/24", "dev", "eth0"}},
		{ext, []string{"ip", "link", "set", "eth0", "up"}},
		{ext, []string{"ip", "route", "add", "default", "via", "203.0.113.1"}},
		{in, []string{"ip", "addr", "add", intAddr + "/24", "dev", "eth0"}},
		{in, []string{"ip", "link", "set", "eth0", "up"}},
		{in, []string{"ip", "route", "add", "default", "via", "10.250.255.1"}},
	} {
		if _, err = c.ns.Output(c.args...); err != nil {
			return
		}
	}
	return
}
