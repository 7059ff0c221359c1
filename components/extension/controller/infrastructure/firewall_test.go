package infrastructure

import (
	"context"
	"encoding/base64"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ignitionconfig "github.com/coreos/ignition/v2/config/v3_5"
	extensionscontroller "github.com/gardener/gardener/extensions/pkg/controller"
	v1beta1constants "github.com/gardener/gardener/pkg/apis/core/v1beta1/constants"
	extensionsv1alpha1 "github.com/gardener/gardener/pkg/apis/extensions/v1alpha1"
	reconcilerutils "github.com/gardener/gardener/pkg/controllerutils/reconciler"
	gardenerutils "github.com/gardener/gardener/pkg/utils/gardener"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/metalkube/metalkube/components/extension/apis/metal/codec"
	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
	"github.com/metalkube/metalkube/components/extension/scheme"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/memory"
	"github.com/metalkube/metalkube/shared/metal/metalstack"
	"github.com/metalkube/metalkube/shared/metalapi"
)

// agents plays the firewall agents' FirewallStatus objects.
type agents struct {
	mu sync.Mutex
	m  map[string]*AgentStatus
}

func (a *agents) FirewallStatus(_ context.Context, _, name string) (*AgentStatus, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.m[name], nil
}

func (a *agents) set(name string, st *AgentStatus) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m[name] = st
}

const fwCluster = "shoot--p--fw"

func firewallConfig(extra string) string {
	return `{"apiVersion":"provider.metalkube.io/v1alpha1","kind":"InfrastructureConfig","project":"p1",
"firewall":{"enabled":true,"size":"c1-large","image":"firewall-ubuntu-3.0","networks":["internet"]` + extra + `}}`
}

func firewallSetup(t *testing.T) (*Actuator, *metalapi.Emulator, *agents, *extensionsv1alpha1.Infrastructure, client.Client) {
	t.Helper()
	e := metalapi.New(metalapi.Config{
		Machines: metalapi.Inventory("0000f1e0", "part-1", "c1-large", 4),
		Networks: []metalapi.Network{
			{ID: "internet", Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/27")}, Shared: true},
			{ID: "tenant-super", Partition: "part-1", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, PrivateSuper: true, ChildLength: 24},
			{ID: "underlay", Partition: "part-1", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.255.0.0/24")}, Underlay: true},
		},
		Projects: []string{"p1"},
		HMAC:     map[string]string{"Metal-Admin": "k"},
	})
	t.Cleanup(e.Close)
	be, err := metalstack.New(metalstack.Config{URL: e.URL(), HMAC: "k", Project: "p1", Partition: "part-1",
		PollInterval: 5 * time.Millisecond, WaitTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	infra := &extensionsv1alpha1.Infrastructure{
		ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: fwCluster},
		Spec: extensionsv1alpha1.InfrastructureSpec{Region: "part-1",
			DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: "metalkube", ProviderConfig: &runtime.RawExtension{Raw: []byte(firewallConfig(""))}}},
	}
	generic := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: v1beta1constants.SecretNameGenericTokenKubeconfig, Namespace: fwCluster},
		Data: map[string][]byte{"kubeconfig": []byte(`apiVersion: v1
kind: Config
current-context: shoot
clusters: [{name: shoot, cluster: {server: "https://api.shoot.example:6443", certificate-authority-data: Q0E=}}]
contexts: [{name: shoot, context: {cluster: shoot, user: shoot}}]
users: [{name: shoot, user: {tokenFile: /var/run/secrets/token}}]
`)}}
	c := fake.NewClientBuilder().WithScheme(scheme.Seed()).WithObjects(infra, generic).WithStatusSubresource(infra).Build()
	ag := &agents{m: map[string]*AgentStatus{}}
	return &Actuator{Client: c, Backend: fixed(be), Codec: codec.New(), Firewalls: ag}, e, ag, infra, c
}

// issueToken plays gardener-resource-manager's token requestor: it writes a
// token into the firewall's shoot access kubeconfig.
func issueToken(t *testing.T, c client.Client, token string) {
	t.Helper()
	ctx := context.Background()
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: fwCluster, Name: gardenerutils.SecretNamePrefixShootAccess + FirewallAccessName}, s); err != nil {
		t.Fatal(err)
	}
	kc, err := clientcmd.Load(s.Data["kubeconfig"])
	if err != nil {
		t.Fatal(err)
	}
	kc.AuthInfos[FirewallAccessName].Token = token
	if s.Data["kubeconfig"], err = clientcmd.Write(*kc); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
}

// firewalls returns the emulator's allocated firewalls by name.
func firewalls(t *testing.T, a *Actuator) map[string]metal.Machine {
	t.Helper()
	be, err := a.Backend(context.Background(), nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := be.(Firewalls).FindFirewalls(context.Background(), fwCluster)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]metal.Machine{}
	for _, m := range ms {
		out[m.Name] = m
	}
	return out
}

func reconcileStatus(t *testing.T, a *Actuator, infra *extensionsv1alpha1.Infrastructure) (*v1alpha1.InfrastructureStatus, error) {
	t.Helper()
	err := a.Reconcile(context.Background(), logr.Discard(), infra, nil)
	if infra.Status.ProviderStatus == nil {
		return nil, err
	}
	st, derr := codec.New().InfrastructureStatus(infra.Status.ProviderStatus)
	if derr != nil {
		t.Fatal(derr)
	}
	return st, err
}

func isRequeue(err error) bool {
	var r *reconcilerutils.RequeueAfterError
	return errors.As(err, &r)
}

// TestFirewallLifecycle: the firewall is allocated with the agent's user
// data once its token is there; a changed spec allocates a new one and
// frees the old one only after the new one's agent reports Ready; an agent
// that stops reporting shows in the status; delete frees everything.
func TestFirewallLifecycle(t *testing.T) {
	ctx := context.Background()
	a, e, ag, infra, c := firewallSetup(t)

	if _, err := reconcileStatus(t, a, infra); !isRequeue(err) || !strings.Contains(err.Error(), "token") {
		t.Fatalf("reconcile before the token: %v, want a requeue waiting for the token", err)
	}
	if n := len(firewalls(t, a)); n != 0 {
		t.Fatalf("%d firewalls allocated without a token", n)
	}
	issueToken(t, c, "tok-1")
	st, err := reconcileStatus(t, a, infra)
	if err != nil {
		t.Fatal(err)
	}
	fws := firewalls(t, a)
	if st.Firewall == nil || len(fws) != 1 {
		t.Fatalf("status %+v, firewalls %v: want one", st.Firewall, fws)
	}
	first := st.Firewall.Name
	m, ok := fws[first]
	if !ok || st.Firewall.ID != m.ID || st.Firewall.Ready || !strings.Contains(st.Firewall.Message, "not reported") {
		t.Fatalf("status %+v, machine %+v: want the allocated firewall, not ready until its agent reports", st.Firewall, m)
	}
	ud, err := base64.StdEncoding.DecodeString(e.UserData(m.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, rep, err := ignitionconfig.Parse(ud); err != nil {
		t.Fatalf("user data is no valid Ignition 3.5 config: %v (%s)", err, rep.String())
	}
	args, kc, err := AgentCommand(ud)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{AgentBinary, "firewall", "--firewall-name=" + first, "--internal-interfaces=int0", "--external-interfaces=ext0",
		"--snat=ext0", "--policy-namespace=firewall", "--node-cidrs=" + st.Network.Prefixes[0]} {
		if !slices.Contains(args, want) {
			t.Errorf("agent command %v lacks %s", args, want)
		}
	}
	if parsed, err := clientcmd.Load(kc); err != nil || parsed.AuthInfos[FirewallAccessName].Token != "tok-1" ||
		parsed.Clusters["shoot"].Server != "https://api.shoot.example:6443" {
		t.Errorf("agent kubeconfig: %v; want the shoot's server with the firewall's token", err)
	}

	// A renewed token alone rolls nothing.
	issueToken(t, c, "tok-2")
	if st, err = reconcileStatus(t, a, infra); err != nil || st.Firewall.Name != first || len(firewalls(t, a)) != 1 {
		t.Fatalf("after a token renewal: %v, %+v; want the same single firewall", err, st.Firewall)
	}

	// A changed spec: a second firewall, the first keeps serving.
	infra.Spec.ProviderConfig.Raw = []byte(firewallConfig(`,"rateLimits":[{"network":"internet","rateMbit":100}],"egressRules":[{"network":"internet","ips":["203.0.113.30"]}]`))
	if err := c.Update(ctx, infra); err != nil {
		t.Fatal(err)
	}
	st, err = reconcileStatus(t, a, infra)
	if !isRequeue(err) {
		t.Fatalf("roll: %v, want a requeue while the new firewall is not ready", err)
	}
	second := st.Firewall.Name
	if second == first || !slices.Equal(st.Firewall.Replacing, []string{first}) || len(firewalls(t, a)) != 2 {
		t.Fatalf("roll: status %+v, firewalls %v; want a new one replacing %s, both allocated", st.Firewall, firewalls(t, a), first)
	}
	args, _, _ = AgentCommand(mustUserData(t, e, firewalls(t, a)[second].ID))
	if !slices.Contains(args, "--rate-limits=ext0=100") || !slices.Contains(args, "--snat=ext0=203.0.113.30") {
		t.Errorf("new firewall's agent command %v: want its rate limit and egress rule", args)
	}
	// The new agent reports an error: still not ready, the old one stays.
	now := metav1.Now()
	ag.set(second, &AgentStatus{LastApplied: &now, LastReported: &now, Error: "netlink: operation not permitted"})
	if st, err = reconcileStatus(t, a, infra); !isRequeue(err) || len(firewalls(t, a)) != 2 || !strings.Contains(st.Firewall.Message, "operation not permitted") {
		t.Fatalf("new agent failing: %v, %+v", err, st.Firewall)
	}
	ag.set(second, &AgentStatus{LastApplied: &now, LastReported: &now})
	if st, err = reconcileStatus(t, a, infra); err != nil || !st.Firewall.Ready || len(st.Firewall.Replacing) != 0 {
		t.Fatalf("new agent ready: %v, %+v", err, st.Firewall)
	}
	if fws := firewalls(t, a); len(fws) != 1 || fws[second].ID == "" {
		t.Fatalf("after the roll: %v, want only %s", fws, second)
	}

	// An agent that stops reporting is visible.
	old := metav1.NewTime(time.Now().Add(-5 * time.Minute))
	ag.set(second, &AgentStatus{LastApplied: &old, LastReported: &old})
	if st, _ = reconcileStatus(t, a, infra); st.Firewall.Ready || !strings.Contains(st.Firewall.Message, "stopped reporting") {
		t.Errorf("stale agent: %+v, want not ready, stopped reporting", st.Firewall)
	}

	if err := a.Delete(ctx, logr.Discard(), infra, nil); err != nil {
		t.Fatal(err)
	}
	if fws := firewalls(t, a); len(fws) != 0 {
		t.Errorf("after delete: firewalls %v", fws)
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: fwCluster, Name: gardenerutils.SecretNamePrefixShootAccess + FirewallAccessName}, s); err == nil {
		t.Error("the firewall's shoot access secret survived the delete")
	}
}

func mustUserData(t *testing.T, e *metalapi.Emulator, id string) []byte {
	t.Helper()
	ud, err := base64.StdEncoding.DecodeString(e.UserData(id))
	if err != nil {
		t.Fatal(err)
	}
	return ud
}

// TestFirewallRefusedWithoutFirewallMachines: a backend without firewall
// machines (ironcore, memory) refuses an enabled firewall as a
// configuration problem and allocates nothing for it.
func TestFirewallRefusedWithoutFirewallMachines(t *testing.T) {
	infra := &extensionsv1alpha1.Infrastructure{
		ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: fwCluster},
		Spec: extensionsv1alpha1.InfrastructureSpec{Region: "fra",
			DefaultSpec: extensionsv1alpha1.DefaultSpec{Type: "metalkube", ProviderConfig: &runtime.RawExtension{Raw: []byte(firewallConfig(""))}}},
	}
	c := fake.NewClientBuilder().WithScheme(scheme.Seed()).WithObjects(infra).WithStatusSubresource(infra).Build()
	a := &Actuator{Client: c, Backend: fixed(memory.New(memory.Config{})), Codec: codec.New(), Firewalls: &agents{m: map[string]*AgentStatus{}}}
	err := a.Reconcile(context.Background(), logr.Discard(), infra, &extensionscontroller.Cluster{})
	if err == nil || !strings.Contains(err.Error(), "has no firewall machines") {
		t.Fatalf("reconcile: %v, want a refusal naming the missing firewall machines", err)
	}
}

func TestAgentHealth(t *testing.T) {
	now := time.Now()
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-d)); return &t }
	for _, tc := range []struct {
		name  string
		st    *AgentStatus
		ready bool
		why   string
	}{
		{"no status", nil, false, "not reported"},
		{"nothing applied", &AgentStatus{LastReported: at(0)}, false, "no ruleset"},
		{"apply error", &AgentStatus{LastApplied: at(0), LastReported: at(0), Error: "boom"}, false, "boom"},
		{"stale", &AgentStatus{LastApplied: at(time.Hour), LastReported: at(FirewallStaleAfter + time.Second)}, false, "stopped reporting"},
		{"fresh", &AgentStatus{LastApplied: at(time.Hour), LastReported: at(10 * time.Second)}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ready, why := tc.st.Health(now)
			if ready != tc.ready || !strings.Contains(why, tc.why) {
				t.Errorf("Health = %v, %q; want %v, %q", ready, why, tc.ready, tc.why)
			}
		})
	}
}

// TestFirewallCRDs: the embedded CRDs are the firewall's two, kept when the
// firewall goes.
func TestFirewallCRDs(t *testing.T) {
	objs, err := FirewallCRDs()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetName())
		if o.GetAnnotations()["resources.gardener.cloud/keep-object"] != "true" {
			t.Errorf("CRD %s is not kept when the firewall goes", o.GetName())
		}
	}
	slices.Sort(names)
	if want := []string{"clusterwidenetworkpolicies.firewall.metalkube.io", "firewallstatuses.firewall.metalkube.io"}; !slices.Equal(names, want) {
		t.Errorf("CRDs %v, want %v", names, want)
	}
}
