package memory_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/conformance"
	"github.com/metalkube/metalkube/shared/metal/memory"
)

func TestConformance(t *testing.T) {
	b := memory.New(memory.Config{
		Servers: memory.Fleet(5),
		Pools:   []memory.Pool{{Network: "internet", Prefix: netip.MustParsePrefix("203.0.113.0/28")}},
	})
	conformance.Run(t, conformance.Backend{
		Client: b, Cluster: "c1", Size: "c1-large", Capacity: 5, Image: "ubuntu-24.04",
		Network: "internet", InPool: netip.MustParseAddr("203.0.113.10"), Outside: netip.MustParseAddr("198.51.100.1"),
		SetUnavailable: b.SetUnavailable,
	})
}

func TestListPartitions(t *testing.T) {
	b := memory.New(memory.Config{Servers: []memory.Server{
		{Name: "a", Partition: "zone-b"}, {Name: "b", Partition: "zone-a"}, {Name: "c", Partition: "zone-b"}, {Name: "d"},
	}})
	got, err := b.ListPartitions(context.Background())
	if err != nil || !slices.Equal(got, []string{"zone-a", "zone-b"}) {
		t.Fatalf("partitions %q, %v; want [zone-a zone-b]", got, err)
	}
	b.SetUnavailable(true)
	if _, err := b.ListPartitions(context.Background()); !metal.IsUnavailable(err) {
		t.Errorf("while unavailable: %v, want ErrUnavailable", err)
	}
}
