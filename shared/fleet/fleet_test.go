package fleet_test

import (
	"context"
	"os"
	"testing"
	"time"

	metalv1alpha1 "github.com/ironcore-dev/metal-operator/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/metalkube/metalkube/shared/fleet"
	"github.com/metalkube/metalkube/shared/metal/ironcore"
	"github.com/metalkube/metalkube/shared/testenv"
	"github.com/metalkube/metalkube/shared/testkit"
)

var env *testenv.Env

func TestMain(m *testing.M) {
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

func start(t *testing.T, cfg fleet.Config) *fleet.Emulator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	emu, err := fleet.New(env.Config, env.Config, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-emu.Done() })
	return emu
}

func claim(t *testing.T, ns, name string, mutate func(*metalv1alpha1.ServerClaim)) {
	t.Helper()
	ctx := context.Background()
	_ = env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Data: map[string][]byte{ironcore.IgnitionKey: []byte("#cloud-config\nhostname: " + name + "\n")}}
	if err := env.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	c := &metalv1alpha1.ServerClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: metalv1alpha1.ServerClaimSpec{Power: metalv1alpha1.PowerOn, Image: "img", IgnitionSecretRef: &corev1.LocalObjectReference{Name: name}}}
	mutate(c)
	if err := env.Client.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
}

func TestBindsByRefAndRespectsTaints(t *testing.T) {
	start(t, fleet.Config{Servers: 2, Prefix: "taint", Sizes: []string{"taint-size"}})
	ctx := context.Background()
	// Taint server taint-001 NoBind; a claim without toleration must not get it.
	srv := &metalv1alpha1.Server{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "taint-001"}, srv); err != nil {
		t.Fatal(err)
	}
	srv.Spec.Taints = []metalv1alpha1.Taint{{Key: "dedicated", Value: "gpu", Effect: metalv1alpha1.TaintEffectNoBind}}
	if err := env.Client.Update(ctx, srv); err != nil {
		t.Fatal(err)
	}
	claim(t, "fleet-taint", "by-ref-untolerated", func(c *metalv1alpha1.ServerClaim) {
		c.Spec.ServerRef = &corev1.LocalObjectReference{Name: "taint-001"}
	})
	claim(t, "fleet-taint", "by-ref-tolerated", func(c *metalv1alpha1.ServerClaim) {
		c.Spec.ServerRef = &corev1.LocalObjectReference{Name: "taint-001"}
		c.Spec.Tolerations = []metalv1alpha1.Toleration{{Key: "dedicated", Operator: metalv1alpha1.TolerationOperatorEqual, Value: "gpu", Effect: metalv1alpha1.TaintEffectNoBind}}
	})
	testkit.Eventually(t, "tolerating claim bound to taint-001", func() bool {
		return env.Client.Get(ctx, client.ObjectKey{Name: "taint-001"}, srv) == nil && srv.Spec.ServerClaimRef != nil && srv.Spec.ServerClaimRef.Name == "by-ref-tolerated"
	})
	c := &metalv1alpha1.ServerClaim{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "fleet-taint", Name: "by-ref-untolerated"}, c); err != nil {
		t.Fatal(err)
	}
	if c.Status.Phase == metalv1alpha1.PhaseBound {
		t.Fatalf("claim without toleration bound: %+v", c.Status)
	}
}

func TestBootRegistersNodeAndHeartbeats(t *testing.T) {
	emu := start(t, fleet.Config{Servers: 1, Prefix: "boot", Sizes: []string{"boot-size"}, RegisterNodes: true,
		ExternalCloudProvider: true, Heartbeat: 200 * time.Millisecond, PowerOnDelay: 100 * time.Millisecond})
	ctx := context.Background()
	claim(t, "fleet-boot", "boot-node", func(c *metalv1alpha1.ServerClaim) {
		c.Spec.ServerSelector = &metav1.LabelSelector{MatchLabels: map[string]string{ironcore.DefaultSizeLabel: "boot-size"}}
	})
	node := &corev1.Node{}
	testkit.Eventually(t, "node boot-node registered with its status", func() bool {
		return env.Client.Get(ctx, client.ObjectKey{Name: "boot-node"}, node) == nil && node.Status.NodeInfo.SystemUUID != ""
	})
	if node.Status.NodeInfo.SystemUUID != "5e1f0000-0004-4000-8000-000000000000" || !hasTaint(node, fleet.TaintUninitialized) {
		t.Fatalf("node = uuid %q taints %v; want a system UUID and the uninitialized taint", node.Status.NodeInfo.SystemUUID, node.Spec.Taints)
	}
	first := readyHeartbeat(node)
	testkit.Eventually(t, "a fresher heartbeat", func() bool {
		return env.Client.Get(ctx, client.ObjectKey{Name: "boot-node"}, node) == nil && readyHeartbeat(node).After(first)
	})
	// A power cut stops the heartbeats.
	if err := emu.PowerOffServer(ctx, "boot-000"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	_ = env.Client.Get(ctx, client.ObjectKey{Name: "boot-node"}, node)
	last := readyHeartbeat(node)
	time.Sleep(1500 * time.Millisecond) // heartbeats are second-granular
	_ = env.Client.Get(ctx, client.ObjectKey{Name: "boot-node"}, node)
	if readyHeartbeat(node).After(last) {
		t.Errorf("node still heart-beating after its server lost power")
	}
	srv := &metalv1alpha1.Server{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "boot-000"}, srv); err != nil {
		t.Fatal(err)
	}
	if srv.Status.PowerState != metalv1alpha1.ServerOffPowerState {
		t.Errorf("server powered off behind its claim's back is %s again", srv.Status.PowerState)
	}
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
