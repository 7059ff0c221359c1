package driver_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	mcmdriver "github.com/gardener/machine-controller-manager/pkg/util/provider/driver"

	"github.com/metalkube/metalkube/components/mcm/driver"
	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/metalstack"
	"github.com/metalkube/metalkube/shared/metalapi"
)

// TestDeleteMachineWithReusedID deletes a Machine whose server was freed
// behind its back and handed to another cluster: metal-api gives the same
// machine UUID again, so the Machine's provider ID now names the other
// cluster's machine. The delete completes and frees nothing.
func TestDeleteMachineWithReusedID(t *testing.T) {
	const key, project, partition = "hmac-key", "proj-1", "part-1"
	e := metalapi.New(metalapi.Config{
		Machines: metalapi.Inventory("0000ee01", partition, "s1", 1),
		Networks: []metalapi.Network{
			{ID: "internet", Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}, Shared: true},
			{ID: "tenant-super", Partition: partition, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, PrivateSuper: true},
		},
		Projects: []string{project},
		HMAC:     map[string]string{"Metal-Edit": key},
	})
	t.Cleanup(e.Close)
	b, err := metalstack.New(metalstack.Config{URL: e.URL(), HMAC: key, HMACAuthType: "Metal-Edit", Project: project, Partition: partition,
		PollInterval: 5 * time.Millisecond, WaitTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d, err := driver.New(driver.Config{Backend: b, DeleteTimeout: 20 * time.Second, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const spec = `{"image":"ubuntu-24.04","size":"s1","partition":"part-1"}`
	created, err := create(d, "m1", spec)
	if err != nil {
		t.Fatal(err)
	}
	mine, err := b.FindMachine(ctx, ns, "m1")
	if err != nil {
		t.Fatal(err)
	}
	// Freed out of band (an operator, or a delete interrupted before
	// machine-controller-manager recorded it), then allocated by another
	// cluster: the only server, so the same UUID.
	if err := b.FreeMachine(ctx, mine.ID, metal.OwnerOf(mine)); err != nil {
		t.Fatal(err)
	}
	theirs, err := b.AllocateMachine(ctx, metal.MachineSpec{Name: "m1", Cluster: "shoot--q--other", Image: "ubuntu-24.04", Size: "s1", Partition: partition})
	if err != nil {
		t.Fatal(err)
	}
	if theirs.ID != mine.ID || theirs.ProviderID != created.ProviderID {
		t.Fatalf("the other cluster got %s (%s); the test needs the reused ID %s (%s)", theirs.ID, theirs.ProviderID, mine.ID, created.ProviderID)
	}
	m := machine("m1")
	m.Spec.ProviderID = created.ProviderID
	if _, err := d.DeleteMachine(ctx, &mcmdriver.DeleteMachineRequest{Machine: m, MachineClass: class(spec), Secret: secret("")}); err != nil {
		t.Fatalf("delete with a reused provider ID: %v, want done", err)
	}
	if !slices.Contains(e.Allocated(), theirs.ID) {
		t.Fatalf("the other cluster's machine %s was freed by a delete of %s/m1", theirs.ID, ns)
	}
	got, err := b.GetMachine(ctx, theirs.ID)
	if err != nil || got.Cluster != "shoot--q--other" {
		t.Fatalf("the other cluster's machine = %+v, %v", got, err)
	}
}
