package metalstack

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/metalkube/metalkube/components/capi/apis/infrastructure/v1alpha1"
	"github.com/metalkube/metalkube/components/capi/app"
	"github.com/metalkube/metalkube/components/capi/test/capitest"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/metalstack"
	"github.com/metalkube/metalkube/shared/metalapi"
	"github.com/metalkube/metalkube/shared/testkit"
)

const (
	project   = "capi-project"
	partition = "part-1"
	size      = "c1-xlarge"
	timeout   = 4 * time.Minute
)

var internet = netip.MustParsePrefix("203.0.113.0/27")

// TestMetalStack: a MetalCluster gets its endpoint IP from metal-api's
// internet network and its failure domain from metal-api's partitions
// narrowed by spec.failureDomains (one metal-api lacks is refused); two
// MetalMachines of a Cluster API Machine each are allocated in metal-api with
// the Machine's bootstrap data as user data and report the metal-stack
// provider ID (metal://<partition>/<uuid>), addresses and partition; a
// request for a size metal-api has no free machine of waits with
// NoMatchingServer. Deleting the Cluster frees the machines, the endpoint IP
// and the cluster's private network.
func TestMetalStack(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := env.Client
	api := metalapi.New(metalapi.Config{
		Machines: metalapi.Inventory("0000beef", partition, size, 2),
		Networks: []metalapi.Network{
			{ID: "internet", Prefixes: []netip.Prefix{internet}, Shared: true},
			{ID: "tenant-super", Partition: partition, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, PrivateSuper: true},
			{ID: "underlay", Partition: partition, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.255.0.0/24")}, Underlay: true},
		},
		Projects: []string{project},
		Token:    "capi-token",
	})
	defer api.Close()
	backend, err := metalstack.New(metalstack.Config{URL: api.URL(), Token: "capi-token", Project: project, Partition: partition,
		PollInterval: 20 * time.Millisecond, WaitTimeout: time.Minute})
	must(t, err)

	logs, err := capitest.Start(ctx, env, capitest.PeerCore)
	must(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range logs {
				data, _ := os.ReadFile(l)
				lines := strings.Split(string(data), "\n")
				t.Logf("last lines of %s:\n%s", l, strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		}
	})
	done := make(chan error, 1)
	pctx, stop := context.WithCancel(ctx)
	go func() {
		done <- app.Run(pctx, &app.Config{Runtime: env.Runtime(app.Name), Metal: backend, Workers: 4, Poll: time.Second, Retry: 2 * time.Second})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("provider: %v", err)
		}
	})

	const ns, name = "ms", "ms"
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(t, c.Create(ctx, &infrav1.MetalCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: infrav1.MetalClusterSpec{ControlPlaneNetwork: "internet", FailureDomains: []string{partition}}}))
	must(t, c.Create(ctx, &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: clusterv1.ClusterSpec{InfrastructureRef: clusterv1.ContractVersionedObjectReference{
			APIGroup: infrav1.GroupVersion.Group, Kind: "MetalCluster", Name: name}}}))
	mc := &infrav1.MetalCluster{}
	testkit.EventuallyWithin(t, timeout, "the Cluster's infrastructure provisioned", func() (bool, string) {
		cluster := &clusterv1.Cluster{}
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cluster))
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, mc))
		ok := cluster.Status.Initialization.InfrastructureProvisioned != nil && *cluster.Status.Initialization.InfrastructureProvisioned
		return ok, fmt.Sprintf("%+v; %+v", cluster.Status.Initialization, mc.Status.Conditions)
	})
	if ip, err := netip.ParseAddr(mc.Spec.ControlPlaneEndpoint.Host); err != nil || !internet.Contains(ip) {
		t.Errorf("endpoint %+v: want an address of metal-api's internet network %s", mc.Spec.ControlPlaneEndpoint, internet)
	}
	if len(mc.Status.FailureDomains) != 1 || mc.Status.FailureDomains[0].Name != partition {
		t.Errorf("failure domains %+v, want [%s]", mc.Status.FailureDomains, partition)
	}

	// A failure domain metal-api does not have is refused with a condition
	// naming it and the partitions there are.
	must(t, c.Create(ctx, &infrav1.MetalCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wrong"},
		Spec: infrav1.MetalClusterSpec{ControlPlaneEndpoint: clusterv1.APIEndpoint{Host: "10.1.0.1", Port: 6443}, FailureDomains: []string{"part-9"}}}))
	must(t, c.Create(ctx, &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wrong"},
		Spec: clusterv1.ClusterSpec{InfrastructureRef: clusterv1.ContractVersionedObjectReference{
			APIGroup: infrav1.GroupVersion.Group, Kind: "MetalCluster", Name: "wrong"}}}))
	testkit.EventuallyWithin(t, timeout, "FailureDomainsReady=False for part-9", func() (bool, string) {
		wrong := &infrav1.MetalCluster{}
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "wrong"}, wrong))
		cond := meta.FindStatusCondition(wrong.Status.Conditions, infrav1.ConditionFailureDomainsReady)
		return cond != nil && cond.Reason == infrav1.ReasonInvalidSpec && strings.Contains(cond.Message, `"part-9"`) && strings.Contains(cond.Message, `"`+partition+`"`),
			fmt.Sprintf("%+v", wrong.Status.Conditions)
	})
	must(t, c.Delete(ctx, &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wrong"}}))

	userData := "#cloud-config\nhostname: from-capi\n"
	must(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "data"},
		Data: map[string][]byte{"value": []byte(userData), "format": []byte("cloud-config")}}))
	machine := func(name string, spec infrav1.MetalMachineSpec) {
		must(t, c.Create(ctx, &infrav1.MetalMachine{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}))
		data := "data"
		must(t, c.Create(ctx, &clusterv1.Machine{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: clusterv1.MachineSpec{ClusterName: "ms", Bootstrap: clusterv1.Bootstrap{DataSecretName: &data}, FailureDomain: partition,
				InfrastructureRef: clusterv1.ContractVersionedObjectReference{APIGroup: infrav1.GroupVersion.Group, Kind: "MetalMachine", Name: name}}}))
	}
	machine("m-0", infrav1.MetalMachineSpec{Image: "ubuntu-24.04", Size: size})
	machine("m-1", infrav1.MetalMachineSpec{Image: "ubuntu-24.04", Size: size})
	waitReady(t, ctx, ns, map[string]string{"m-0": infrav1.ReasonReady, "m-1": infrav1.ReasonReady})
	// Both machines of the size are taken: the next waits; a size metal-api
	// does not know is refused, with metal-api's answer.
	machine("m-2", infrav1.MetalMachineSpec{Image: "ubuntu-24.04", Size: size})
	machine("too-big", infrav1.MetalMachineSpec{Image: "ubuntu-24.04", Size: "c9-huge"})
	conds := waitReady(t, ctx, ns, map[string]string{"m-2": infrav1.ReasonNoMatchingServer, "too-big": infrav1.ReasonInvalidSpec})
	if !strings.Contains(conds["too-big"].Message, "c9-huge") {
		t.Errorf("too-big: message %q does not name the size", conds["too-big"].Message)
	}
	machines, err := backend.ListMachines(ctx, ns+"."+name)
	must(t, err)
	if len(machines) != 2 {
		t.Fatalf("metal-api holds %d machines of the cluster, want 2", len(machines))
	}
	for _, name := range []string{"m-0", "m-1"} {
		mm := &infrav1.MetalMachine{}
		must(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, mm))
		i := slices.IndexFunc(machines, func(m metal.Machine) bool { return m.ID == mm.Status.MachineID })
		if i < 0 {
			t.Errorf("%s: machine %q not in metal-api", name, mm.Status.MachineID)
			continue
		}
		if want := "metal://" + partition + "/" + machines[i].ID; mm.Spec.ProviderID != want {
			t.Errorf("%s: provider ID %q, want %q", name, mm.Spec.ProviderID, want)
		}
		if mm.Status.FailureDomain != partition || len(mm.Status.Addresses) == 0 {
			t.Errorf("%s: status %+v", name, mm.Status)
		}
		// metal-api holds user data base64-encoded.
		if got, err := base64.StdEncoding.DecodeString(api.UserData(machines[i].ID)); err != nil || string(got) != userData {
			t.Errorf("%s: user data in metal-api %q (%v), want the bootstrap Secret's %q", name, got, err, userData)
		}
	}

	// A freed machine goes to the waiting one.
	must(t, c.Delete(ctx, &clusterv1.Machine{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "m-0"}}))
	waitReady(t, ctx, ns, map[string]string{"m-1": infrav1.ReasonReady, "m-2": infrav1.ReasonReady})

	must(t, c.Delete(ctx, &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}))
	testkit.EventuallyWithin(t, timeout, "the Cluster gone and nothing left in metal-api", func() (bool, string) {
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &clusterv1.Cluster{})
		machines, merr := backend.ListMachines(ctx, ns+"."+name)
		ips, ierr := backend.FindIPs(ctx, metal.IPQuery{Cluster: ns + "." + name})
		networks, nerr := backend.FindNetworks(ctx, ns+"."+name)
		if merr != nil || ierr != nil || nerr != nil {
			return false, fmt.Sprint(merr, ierr, nerr)
		}
		return apierrors.IsNotFound(err) && len(machines)+len(ips)+len(networks) == 0,
			fmt.Sprintf("cluster: %v; %d machines, %d IPs, %d networks", err, len(machines), len(ips), len(networks))
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitReady waits until each named MetalMachine's Ready condition has the
// reason (ReasonReady: provisioned) and returns the conditions.
func waitReady(t *testing.T, ctx context.Context, ns string, want map[string]string) map[string]*metav1.Condition {
	t.Helper()
	got := map[string]*metav1.Condition{}
	testkit.EventuallyWithin(t, timeout, fmt.Sprintf("MetalMachines %v", want), func() (bool, string) {
		var states []string
		ok := true
		for name, reason := range want {
			mm := &infrav1.MetalMachine{}
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, mm); err != nil {
				return false, err.Error()
			}
			ready := meta.FindStatusCondition(mm.Status.Conditions, infrav1.ConditionReady)
			got[name] = ready
			states = append(states, fmt.Sprintf("%s: %s %v", name, mm.Status.State, ready))
			provisioned := mm.Status.Initialization.Provisioned != nil && *mm.Status.Initialization.Provisioned
			ok = ok && ready != nil && ready.Reason == reason && (reason != infrav1.ReasonReady || provisioned)
		}
		return ok, strings.Join(states, "; ")
	})
	return got
}
