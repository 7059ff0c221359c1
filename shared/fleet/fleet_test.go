package fleet_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metalv1alpha1 "github.com/ironcore-dev/metal-operator/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/shared/fleet"
	"github.com/metalkube/metalkube/shared/metal/ironcore"
	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit"
	"github.com/metalkube/metalkube/shared/testkit/netns"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard()) // the fleet's own logs
	os.Exit(testenv.Main(m, testenv.Options{CRDs: []testenv.CRDSet{testenv.MetalOperator, testenv.ClusterAPIIPAM}}, &env))
}

func TestHostname(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"ignition plain data URL", `{"ignition":{"version":"3.5.0"},"storage":{"files":[{"path":"/etc/hostname","contents":{"source":"data:,node-a%0A"}}]}}`, "node-a"},
		{"ignition base64", `{"ignition":{"version":"3.5.0"},"storage":{"files":[{"path":"/etc/hostname","contents":{"source":"data:;base64,bm9kZS1i"}}]}}`, "node-b"},
		{"ignition without hostname", `{"ignition":{"version":"3.5.0"}}`, ""},
		{"cloud-init hostname", "#cloud-config\nhostname: node-c\n", "node-c"},
		{"cloud-init quoted fqdn", "#cloud-config\nfqdn: \"node-d.example\"\n", "node-d.example"},
		{"garbage", "\x00\x01", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fleet.Hostname([]byte(tt.data)); got != tt.want {
				t.Fatalf("Hostname() = %q, want %q", got, tt.want)
			}
		})
	}
}

// operator is metal-operator on the package's API server, started on first
// use; it lives until TestMain stops the environment.
var operator struct {
	once sync.Once
	mo   *testenv.MetalOperatorPeer
	ctx  context.Context
	err  error
}

// start runs hardware for cfg on the real metal-operator until the test ends
// and waits until its servers are Available.
func start(t *testing.T, cfg fleet.Config) *fleet.Hardware {
	t.Helper()
	operator.once.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		env.BeforeStop(cancel)
		operator.ctx = ctx
		if operator.err = env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "metal-operator-system"}}); operator.err != nil {
			return
		}
		operator.mo, operator.err = env.StartMetalOperator(ctx, "metal-operator-system")
	})
	if operator.err != nil {
		t.Fatalf("metal-operator: %v", operator.err)
	}
	probe, err := testenv.PeerBinary(testenv.PeerMetalProbe)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(operator.ctx)
	hw, err := fleet.NewHardware(env.Config, env.Config, fleet.HardwareConfig{Config: cfg, RegistryURL: operator.mo.RegistryURL, Probe: probe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-hw.Done() })
	if err := hw.Start(ctx, 3*time.Minute); err != nil {
		t.Fatalf("%v (metal-operator's output: %s)", err, operator.mo.Log)
	}
	return hw
}

func claim(t *testing.T, c client.Client, ns, name string, mutate func(*metalv1alpha1.ServerClaim)) {
	t.Helper()
	ctx := context.Background()
	_ = c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Data: map[string][]byte{ironcore.IgnitionKey: []byte("#cloud-config\nhostname: " + name + "\n")}}
	if err := c.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	cl := &metalv1alpha1.ServerClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: metalv1alpha1.ServerClaimSpec{Power: metalv1alpha1.PowerOn, Image: "img", IgnitionSecretRef: &corev1.LocalObjectReference{Name: name}}}
	mutate(cl)
	if err := c.Create(ctx, cl); err != nil {
		t.Fatal(err)
	}
}

func TestBindsByRefAndRespectsTaints(t *testing.T) {
	cfg := fleet.Config{Servers: 2, Prefix: "taint", Sizes: []string{"taint-size"}}
	start(t, cfg)
	server := cfg.ServerNameOnBMC
	ctx := context.Background()
	// Taint the second server NoBind; a claim without toleration must not get it.
	name := server(1)
	srv := &metalv1alpha1.Server{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, srv); err != nil {
		t.Fatal(err)
	}
	srv.Spec.Taints = []metalv1alpha1.Taint{{Key: "dedicated", Value: "gpu", Effect: metalv1alpha1.TaintEffectNoBind}}
	if err := env.Client.Update(ctx, srv); err != nil {
		t.Fatal(err)
	}
	claim(t, env.Client, "fleet-taint", "by-ref-untolerated", func(c *metalv1alpha1.ServerClaim) {
		c.Spec.ServerRef = &corev1.LocalObjectReference{Name: name}
	})
	claim(t, env.Client, "fleet-taint", "by-ref-tolerated", func(c *metalv1alpha1.ServerClaim) {
		c.Spec.ServerRef = &corev1.LocalObjectReference{Name: name}
		c.Spec.Tolerations = []metalv1alpha1.Toleration{{Key: "dedicated", Operator: metalv1alpha1.TolerationOperatorEqual, Value: "gpu", Effect: metalv1alpha1.TaintEffectNoBind}}
	})
	testkit.EventuallyWithin(t, 2*time.Minute, "tolerating claim bound to "+name, func() (bool, string) {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, srv); err != nil {
			return false, err.Error()
		}
		return srv.Spec.ServerClaimRef != nil && srv.Spec.ServerClaimRef.Name == "by-ref-tolerated", fmt.Sprintf("claim ref %+v", srv.Spec.ServerClaimRef)
	})
	c := &metalv1alpha1.ServerClaim{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "fleet-taint", Name: "by-ref-untolerated"}, c); err != nil {
		t.Fatal(err)
	}
	if c.Status.Phase == metalv1alpha1.PhaseBound {
		t.Fatalf("claim without toleration bound: %+v", c.Status)
	}
}

// TestBootPowerCutRelease: a claimed server boots into a Node that
// heart-beats; after a power cut it is powered on and boots again; once the
// claim is gone, the server is Available, off and unclaimed.
func TestBootPowerCutRelease(t *testing.T) {
	cfg := fleet.Config{Servers: 1, Prefix: "boot", Sizes: []string{"boot-size"}, RegisterNodes: true,
		ExternalCloudProvider: true, Heartbeat: 200 * time.Millisecond}
	hw := start(t, cfg)
	server, cut := cfg.ServerNameOnBMC, hw.CutPower
	ctx := context.Background()
	claim(t, env.Client, "fleet-boot", "boot-node", func(c *metalv1alpha1.ServerClaim) {
		c.Spec.ServerSelector = &metav1.LabelSelector{MatchLabels: map[string]string{ironcore.DefaultSizeLabel: "boot-size"}}
	})
	node := &corev1.Node{}
	testkit.EventuallyWithin(t, 2*time.Minute, "node boot-node registered with its status", func() bool {
		return env.Client.Get(ctx, client.ObjectKey{Name: "boot-node"}, node) == nil && node.Status.NodeInfo.SystemUUID != ""
	})
	if node.Status.NodeInfo.SystemUUID != "5e1f0000-0004-4000-8000-000000000000" || !hasTaint(node, fleet.TaintUninitialized) {
		t.Fatalf("node = uuid %q taints %v; want the server's system UUID and the uninitialized taint", node.Status.NodeInfo.SystemUUID, node.Spec.Taints)
	}
	first := readyHeartbeat(node)
	testkit.Eventually(t, "a fresher heartbeat", func() bool {
		return env.Client.Get(ctx, client.ObjectKey{Name: "boot-node"}, node) == nil && readyHeartbeat(node).After(first)
	})
	srv := &metalv1alpha1.Server{}
	if err := cut(ctx, 0); err != nil {
		t.Fatal(err)
	}
	cutAt := time.Now()
	testkit.EventuallyWithin(t, 2*time.Minute, "the server on again and its node heart-beating after the power cut", func() (bool, string) {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: server(0)}, srv); err != nil {
			return false, err.Error()
		}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "boot-node"}, node); err != nil {
			return false, err.Error()
		}
		hb := readyHeartbeat(node)
		return srv.Status.PowerState == metalv1alpha1.ServerOnPowerState && hb.After(cutAt.Add(time.Second)),
			fmt.Sprintf("power %s, last heartbeat %s (cut at %s)", srv.Status.PowerState, hb.Format(time.RFC3339), cutAt.Format(time.RFC3339))
	})
	if err := env.Client.Delete(ctx, &metalv1alpha1.ServerClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet-boot", Name: "boot-node"}}); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyWithin(t, 2*time.Minute, "the server released", func() (bool, string) {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: server(0)}, srv); err != nil {
			return false, err.Error()
		}
		return srv.Status.State == metalv1alpha1.ServerStateAvailable && srv.Status.PowerState == metalv1alpha1.ServerOffPowerState && srv.Spec.ServerClaimRef == nil,
			fmt.Sprintf("state %s, power %s, claim ref %+v", srv.Status.State, srv.Status.PowerState, srv.Spec.ServerClaimRef)
	})
}

func readyHeartbeat(n *corev1.Node) time.Time {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.LastHeartbeatTime.Time
		}
	}
	return time.Time{}
}

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}

// TestServersReportTheirOwnAddresses: each server's probe runs in a network
// namespace of the server's own, so metal-operator records the server's own
// MAC and addresses (and no other server's), and its node registers them.
func TestServersReportTheirOwnAddresses(t *testing.T) {
	if ok, why := netns.Available(); !ok {
		t.Skip(why)
	}
	cfg := fleet.Config{Servers: 3, Prefix: "own-addr", Sizes: []string{"own-addr-size"}, NodeNetwork6: netip.MustParsePrefix("fd00:10::/64")}
	start(t, cfg)
	server := cfg.ServerNameOnBMC
	ctx := context.Background()
	want := [][]string{{"10.0.0.1", "fd00:10::1"}, {"10.0.0.2", "fd00:10::2"}, {"10.0.0.3", "fd00:10::3"}}
	for i, addrs := range want {
		srv := &metalv1alpha1.Server{}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: server(i)}, srv); err != nil {
			t.Fatal(err)
		}
		var got []string
		var mac string
		for _, nic := range srv.Status.NetworkInterfaces {
			for _, ip := range nic.IPs {
				if !ip.IsLinkLocalUnicast() {
					got = append(got, ip.String())
					mac = nic.MACAddress
				}
			}
		}
		if !slices.Equal(got, addrs) || mac != cfg.MAC(i) {
			t.Errorf("server %s: addresses %v on MAC %q, want %v on %s (interfaces %+v)", srv.Name, got, mac, addrs, cfg.MAC(i), srv.Status.NetworkInterfaces)
		}
	}
}
