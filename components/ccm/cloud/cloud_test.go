package cloud_test

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/metalkube/metalkube/components/ccm/cloud"
	"github.com/metalkube/metalkube/shared/metal"
)

type fakeReader struct {
	machines []metal.Machine
	err      error
	lists    int
}

func (f *fakeReader) GetMachine(context.Context, string) (*metal.Machine, error) {
	return nil, metal.ErrNotFound
}
func (f *fakeReader) FindMachine(context.Context, string, string) (*metal.Machine, error) {
	return nil, metal.ErrNotFound
}
func (f *fakeReader) ListMachines(context.Context, string) ([]metal.Machine, error) {
	f.lists++
	return f.machines, f.err
}

func node(name, pid, uuid string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{ProviderID: pid},
		Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{SystemUUID: uuid}}}
}

func TestMatch(t *testing.T) {
	ms := []metal.Machine{
		{ID: "a", Name: "a", Hostname: "host-a", ProviderID: "metal://ns/a", SystemUUID: "UUID-A"},
		{ID: "b", Name: "b", ProviderID: "metal://ns/b", SystemUUID: "uuid-b"},
	}
	for _, tc := range []struct {
		name string
		node *corev1.Node
		want string
	}{
		{"provider ID", node("x", "metal://ns/b", "uuid-a"), "b"},
		{"metal-stack triple slash", node("x", "metal:///ns/a", ""), "a"},
		{"provider ID is authoritative", node("host-a", "metal://ns/zzz", "uuid-a"), ""},
		{"system UUID, any case", node("x", "", "uuid-A"), "a"},
		{"hostname", node("host-a", "", ""), "a"},
		{"name when no hostname", node("b", "", ""), "b"},
		{"none", node("c", "", "uuid-c"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cloud.Match(ms, tc.node)
			if (got == nil) != (tc.want == "") || (got != nil && got.ID != tc.want) {
				t.Errorf("Match = %+v, want %q", got, tc.want)
			}
		})
	}
}

func TestCacheSharesListsAndRefreshesOnMiss(t *testing.T) {
	r := &fakeReader{machines: []metal.Machine{{ID: "a", SystemUUID: "uuid-a", ProviderID: "metal://ns/a", State: metal.MachineRunning, PoweredOn: true}}}
	c, err := cloud.New(cloud.Config{Cluster: "c", Machines: r, CacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 100 {
		if ok, err := c.InstanceExists(ctx, node("a", "", "uuid-a")); !ok || err != nil {
			t.Fatalf("exists = %v, %v", ok, err)
		}
	}
	if r.lists != 1 {
		t.Errorf("%d lists for 100 lookups, want 1", r.lists)
	}
	// A machine allocated after the list: the miss lists again (the cached
	// list is older than a second only after a while, so force it).
	c.Machines().Invalidate()
	r.machines = append(r.machines, metal.Machine{ID: "b", SystemUUID: "uuid-b", State: metal.MachineAllocated})
	if ok, _ := c.InstanceExists(ctx, node("b", "", "uuid-b")); !ok {
		t.Error("new machine reported missing")
	}
	if down, _ := c.InstanceShutdown(ctx, node("b", "", "uuid-b")); !down {
		t.Error("powered-off machine not shut down")
	}
}

func TestOutageIsAnErrorNotAMissingInstance(t *testing.T) {
	r := &fakeReader{err: metal.Errorf(metal.ErrUnavailable, "list machines", "c", "down")}
	c, _ := cloud.New(cloud.Config{Cluster: "c", Machines: r, CacheTTL: time.Minute})
	ok, err := c.InstanceExists(context.Background(), node("a", "", "uuid-a"))
	if err == nil || !errors.Is(err, metal.ErrUnavailable) {
		t.Fatalf("exists = %v, %v; want ErrUnavailable", ok, err)
	}
}

func TestLostMachineDoesNotExist(t *testing.T) {
	r := &fakeReader{machines: []metal.Machine{{ID: "a", SystemUUID: "uuid-a", State: metal.MachineLost}}}
	c, _ := cloud.New(cloud.Config{Cluster: "c", Machines: r})
	if ok, err := c.InstanceExists(context.Background(), node("a", "", "uuid-a")); ok || err != nil {
		t.Fatalf("exists = %v, %v; want false", ok, err)
	}
}

func TestMetadata(t *testing.T) {
	m := metal.Machine{ID: "a", SystemUUID: "u", ProviderID: "metal://ns/a", Size: "c1", Partition: "z1", Region: "r1",
		Labels:    map[string]string{"metal.metalkube.io/rack": "r7", "other/x": "y", "metal.metalkube.io/bad": "not valid!"},
		Tags:      map[string]string{"machine.metal-stack.io/role": "worker"},
		Addresses: []metal.Address{{Type: metal.AddressInternalIP, Address: "fd00::1"}, {Type: metal.AddressHostname, Address: "a"}, {Type: metal.AddressInternalIP, Address: "10.0.0.1"}}}
	c, _ := cloud.New(cloud.Config{Cluster: "c", Machines: &fakeReader{machines: []metal.Machine{m}}, LabelPrefixes: []string{"metal.metalkube.io/", "machine.metal-stack.io/"}})
	md, err := c.InstanceMetadata(context.Background(), node("a", "", "u"))
	if err != nil {
		t.Fatal(err)
	}
	if md.ProviderID != "metal://ns/a" || md.InstanceType != "c1" || md.Zone != "z1" || md.Region != "r1" {
		t.Errorf("metadata %+v", md)
	}
	if len(md.AdditionalLabels) != 2 || md.AdditionalLabels["metal.metalkube.io/rack"] != "r7" || md.AdditionalLabels["machine.metal-stack.io/role"] != "worker" {
		t.Errorf("additional labels %v", md.AdditionalLabels)
	}
	if a := md.NodeAddresses; len(a) != 3 || a[0].Address != "10.0.0.1" || a[1].Address != "fd00::1" {
		t.Errorf("addresses %v: want IPv4 first", a)
	}
}
