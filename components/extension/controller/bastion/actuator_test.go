package bastion

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ignitionconfig "github.com/coreos/ignition/v2/config/v3_5"
	extensionscontroller "github.com/gardener/gardener/extensions/pkg/controller"
	gardencorev1beta1 "github.com/gardener/gardener/pkg/apis/core/v1beta1"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	reconcilerutils "github.com/gardener/gardener/pkg/controllerutils/reconciler"
	"github.com/go-logr/logr"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/scheme"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/memory"
	"github.com/metalkube/metalkube/shared/metal/metalstack"
	"github.com/metalkube/metalkube/shared/metalapi"
	"github.com/metalkube/metalkube/shared/testkit/netns"
)

const ns = "shoot--p--b"

func raw(v any) *runtime.RawExtension {
	b, _ := json.Marshal(v)
	return &runtime.RawExtension{Raw: b}
}

func testCluster() *extensionscontroller.Cluster {
	return &extensionscontroller.Cluster{
		Shoot: &gardencorev1beta1.Shoot{
			Spec: gardencorev1beta1.ShootSpec{Provider: gardencorev1beta1.Provider{
				InfrastructureConfig: raw(map[string]any{"apiVersion": "provider.metalkube.io/v1alpha1", "kind": "InfrastructureConfig", "project": "p1",
					"networks": map[string]any{"external": []string{"internet"}}}),
				Workers: []gardencorev1beta1.Worker{{Name: "a", Machine: gardencorev1beta1.Machine{Type: "c1-large",
					Image: &gardencorev1beta1.ShootMachineImage{Name: "ubuntu", Version: new("24.04")}}}},
			}},
			Status: gardencorev1beta1.ShootStatus{TechnicalID: ns},
		},
		CloudProfile: &gardencorev1beta1.CloudProfile{ObjectMeta: metav1.ObjectMeta{Name: "metalkube"}, Spec: gardencorev1beta1.CloudProfileSpec{
			ProviderConfig: raw(map[string]any{"apiVersion": "provider.metalkube.io/v1alpha1", "kind": "CloudProfileConfig",
				"machineImages": []map[string]any{{"name": "ubuntu", "versions": []map[string]any{{"version": "24.04", "image": "ubuntu-24.04"}}}}}),
		}},
	}
}

func newBastion(cidrs ...string) *extensionsv1alpha1.Bastion {
	b := &extensionsv1alpha1.Bastion{ObjectMeta: metav1.ObjectMeta{Name: "cli-x", Namespace: ns},
		Spec: extensionsv1alpha1.BastionSpec{DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: "metalkube"}, UserData: []byte("#!/bin/bash\nuseradd gardener\n")}}
	for _, c := range cidrs {
		b.Spec.Ingress = append(b.Spec.Ingress, extensionsv1alpha1.BastionIngressPolicy{IPBlock: networkingv1.IPBlock{CIDR: c}})
	}
	return b
}

func bastionMachines(t *testing.T, be Backend) []metal.Machine {
	t.Helper()
	ms, err := be.ListMachines(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	var out []metal.Machine
	for _, m := range ms {
		if m.Tags[TagBastion] != "" {
			out = append(out, m)
		}
	}
	return out
}

// reconcileUntil reconciles until it stops asking to be requeued.
func reconcileUntil(t *testing.T, a *Actuator, b *extensionsv1alpha1.Bastion) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := a.Reconcile(context.Background(), logr.Discard(), b, testCluster())
		var rq *reconcilerutils.RequeueAfterError
		if !errors.As(err, &rq) {
			if err != nil {
				t.Fatal(err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still requeued: %v", err)
		}
	}
}

// TestBastionOnMetalStack: the bastion is a machine in the external network
// whose address lands in status.ingress, with user data that runs Gardener's
// script and filters SSH; a changed ingress replaces it; delete frees it.
func TestBastionOnMetalStack(t *testing.T) {
	e := metalapi.New(metalapi.Config{
		Machines: metalapi.Inventory("0000ba51", "part-1", "c1-large", 3),
		Networks: []metalapi.Network{
			{ID: "internet", Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/27")}, Shared: true},
			{ID: "tenant-super", Partition: "part-1", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, PrivateSuper: true, ChildLength: 24},
		},
		Projects: []string{"p1"}, HMAC: map[string]string{"Metal-Admin": "k"},
	})
	t.Cleanup(e.Close)
	be, err := metalstack.New(metalstack.Config{URL: e.URL(), HMAC: "k", Project: "p1", Partition: "part-1", PollInterval: 5 * time.Millisecond, WaitTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := be.AllocateNetwork(ctx, metal.NetworkSpec{Name: "nodes", Cluster: ns}); err != nil {
		t.Fatal(err)
	}
	b := newBastion("198.51.100.0/24")
	c := fake.NewClientBuilder().WithScheme(scheme.Seed()).WithObjects(b).WithStatusSubresource(b).Build()
	a := &Actuator{Client: c, Backend: func(context.Context, *extensionsv1alpha1.Bastion, *extensionscontroller.Cluster) (Backend, error) {
		return be, nil
	}, Codec: codec.New()}
	reconcileUntil(t, a, b)
	ms := bastionMachines(t, be)
	if len(ms) != 1 {
		t.Fatalf("bastion machines %v, want one", ms)
	}
	if b.Status.Ingress == nil || !strings.HasPrefix(b.Status.Ingress.IP, "203.0.113.") {
		t.Fatalf("status.ingress = %+v, want an address of the internet network", b.Status.Ingress)
	}
	ud, err := base64.StdEncoding.DecodeString(e.UserData(ms[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	cfg, rep, err := ignitionconfig.Parse(ud)
	if err != nil {
		t.Fatalf("user data is no valid Ignition 3.5 config: %v (%s)", err, rep.String())
	}
	files := map[string]string{}
	for _, f := range cfg.Storage.Files {
		_, data, _ := strings.Cut(*f.Contents.Source, ";base64,")
		d, _ := base64.StdEncoding.DecodeString(data)
		files[f.Path] = string(d)
	}
	if files[ScriptFile] != string(b.Spec.UserData) || !strings.Contains(files[RulesFile], "ip saddr { 198.51.100.0/24 } tcp dport 22 accept") {
		t.Errorf("user data files %v: want Gardener's script and the SSH filter", files)
	}

	// A changed ingress: a new machine, the old one freed.
	b.Spec.Ingress[0].IPBlock.CIDR = "192.0.2.0/24"
	if err := c.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	reconcileUntil(t, a, b)
	if ms2 := bastionMachines(t, be); len(ms2) != 1 || ms2[0].Name == ms[0].Name {
		t.Fatalf("after an ingress change: %v, want one new machine instead of %s", ms2, ms[0].Name)
	}

	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := a.Delete(ctx, logr.Discard(), b, testCluster())
		if err == nil {
			break
		}
		var rq *reconcilerutils.RequeueAfterError
		if !errors.As(err, &rq) || time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	if ms := bastionMachines(t, be); len(ms) != 0 {
		t.Fatalf("after delete: %v", ms)
	}
}

// TestBastionRefusedOnIronCore: ironcore has no public addresses; the
// Bastion is refused as a configuration problem and nothing is allocated.
func TestBastionRefusedOnIronCore(t *testing.T) {
	be := &ironcoreLike{memory.New(memory.Config{})}
	b := newBastion("198.51.100.0/24")
	c := fake.NewClientBuilder().WithScheme(scheme.Seed()).WithObjects(b).WithStatusSubresource(b).Build()
	a := &Actuator{Client: c, Backend: func(context.Context, *extensionsv1alpha1.Bastion, *extensionscontroller.Cluster) (Backend, error) {
		return be, nil
	}, Codec: codec.New()}
	err := a.Reconcile(context.Background(), logr.Discard(), b, testCluster())
	if err == nil || !strings.Contains(err.Error(), "bastions are not supported there") {
		t.Fatalf("reconcile: %v, want the documented refusal", err)
	}
	if ms := bastionMachines(t, be); len(ms) != 0 {
		t.Errorf("machines allocated: %v", ms)
	}
	if err := a.Delete(context.Background(), logr.Discard(), b, testCluster()); err != nil {
		t.Errorf("delete: %v", err)
	}
}

// ironcoreLike is a backend that names itself ironcore.
type ironcoreLike struct{ mem }

type mem = *memory.Backend

func (ironcoreLike) Backend() string { return "ironcore" }

func TestSSHRulesRefuseBadCIDRs(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    *extensionsv1alpha1.Bastion
		want string
	}{
		{"bad cidr", newBastion("10.0.0.0/33"), "spec.ingress[0].ipBlock.cidr"},
		{"bad except", func() *extensionsv1alpha1.Bastion {
			b := newBastion("10.0.0.0/8")
			b.Spec.Ingress[0].IPBlock.Except = []string{"nope"}
			return b
		}(), "spec.ingress[0].ipBlock.except[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := SSHRules(tc.b.Spec.Ingress); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("SSHRules: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// TestSSHRulesWithPackets loads the rendered ruleset into a namespace
// playing the bastion and connects to its SSH port from inside and outside
// the ingress CIDR, and from an excepted address.
func TestSSHRulesWithPackets(t *testing.T) {
	netns.Require(t)
	bastion, allowed, excepted, other := netns.New(t, "bst"), netns.New(t, "bok"), netns.New(t, "bex"), netns.New(t, "bno")
	bastion.Exec(t, "ip", "link", "add", "br0", "type", "bridge")
	bastion.Exec(t, "ip", "addr", "add", "203.0.113.1/24", "dev", "br0")
	bastion.Exec(t, "ip", "link", "set", "br0", "up")
	for i, c := range []struct {
		ns   *netns.NS
		addr string
	}{{allowed, "203.0.113.10"}, {excepted, "203.0.113.11"}, {other, "203.0.113.200"}} {
		peer := "p" + string(rune('0'+i))
		netns.Run(t, "ip", "link", "add", peer, "netns", bastion.Name, "type", "veth", "peer", "name", "eth0", "netns", c.ns.Name)
		bastion.Exec(t, "ip", "link", "set", peer, "master", "br0", "up")
		c.ns.Exec(t, "ip", "addr", "add", c.addr+"/24", "dev", "eth0")
		c.ns.Exec(t, "ip", "link", "set", "eth0", "up")
	}
	in := newBastion("203.0.113.0/25")
	in.Spec.Ingress[0].IPBlock.Except = []string{"203.0.113.11/32"}
	rules, err := SSHRules(in.Spec.Ingress)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ssh.nft")
	if err := os.WriteFile(file, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 { // loading twice replaces, as on a reboot with the unit
		bastion.Exec(t, "nft", "-f", file)
	}
	for _, port := range []string{"22", "8080"} {
		l, err := bastion.Listen("0.0.0.0:" + port)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	for _, tc := range []struct {
		from *netns.NS
		port string
		pass bool
	}{
		{allowed, "22", true}, {allowed, "8080", false}, {excepted, "22", false}, {other, "22", false},
	} {
		conn, err := tc.from.Dial(net.JoinHostPort("203.0.113.1", tc.port), time.Second)
		if err == nil {
			conn.Close()
		}
		if (err == nil) != tc.pass {
			t.Errorf("%s -> bastion:%s connected=%v, want %v (%v)", tc.from.Name, tc.port, err == nil, tc.pass, err)
		}
	}
}

var _ client.Object = (*extensionsv1alpha1.Bastion)(nil)
