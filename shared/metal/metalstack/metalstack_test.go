package metalstack_test

import (
	"context"
	"crypto/ed25519"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/metalkube/metalkube/shared/metal"
	"github.com/metalkube/metalkube/shared/metal/conformance"
	"github.com/metalkube/metalkube/shared/metal/metalstack"
	"github.com/metalkube/metalkube/shared/metalapi"
)

const (
	projectID = "proj-1"
	partition = "part-1"
	hmacKey   = "emulator-hmac-key"
	authType  = "Metal-Edit"
)

// emulator starts a metal-api emulator with n machines of size in partition,
// an internet network 203.0.113.0/27 and a private super network.
func emulator(t testing.TB, size string, n int) *metalapi.Emulator {
	t.Helper()
	e := metalapi.New(metalapi.Config{
		Machines: metalapi.Inventory("0000cafe", partition, size, n),
		Networks: []metalapi.Network{
			{ID: "internet", Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/27"), netip.MustParsePrefix("2001:db8:1::/120")}, Shared: true},
			{ID: "tenant-super", Partition: partition, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, PrivateSuper: true},
			{ID: "underlay", Partition: partition, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.255.0.0/24")}, Underlay: true},
		},
		Projects: []string{projectID},
		HMAC:     map[string]string{authType: hmacKey},
		Token:    "emulator-token",
	})
	t.Cleanup(e.Close)
	return e
}

// sshKey is a valid public key in authorized_keys form, as metal-api
// checks them (ssh.ParseAuthorizedKey in validateAllocationSpec).
func sshKey(t testing.TB) string {
	t.Helper()
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " test@metalkube"
}

func backend(t testing.TB, e *metalapi.Emulator, mod ...func(*metalstack.Config)) *metalstack.Backend {
	t.Helper()
	cfg := metalstack.Config{URL: e.URL(), HMAC: hmacKey, HMACAuthType: authType, Project: projectID, Partition: partition,
		DNSServers: []string{"192.0.2.53"}, NTPServers: []string{"pool.ntp.org"}, PollInterval: 5 * time.Millisecond, WaitTimeout: 20 * time.Second}
	for _, m := range mod {
		m(&cfg)
	}
	b, err := metalstack.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Healthy(context.Background()); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	return b
}

func TestConformance(t *testing.T) {
	e := emulator(t, "c1-large", 5)
	conformance.Run(t, conformance.Backend{
		Client: backend(t, e), Cluster: "shoot-conf", Size: "c1-large", Capacity: 5, Image: "ubuntu-24.04",
		Network: "internet", InPool: netip.MustParseAddr("203.0.113.20"), Outside: netip.MustParseAddr("198.51.100.7"),
		SetUnavailable: e.SetOutage,
	})
}

// TestListPartitions: metal-api's partitions (of machines and networks),
// sorted, as failure domains.
func TestListPartitions(t *testing.T) {
	e := metalapi.New(metalapi.Config{
		Machines: append(metalapi.Inventory("0000aaaa", "part-2", "s1", 1), metalapi.Inventory("0000bbbb", partition, "s1", 1)...),
		Networks: []metalapi.Network{{ID: "tenant-super-3", Partition: "part-3", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.3.0.0/16")}, PrivateSuper: true}},
		Projects: []string{projectID},
		HMAC:     map[string]string{authType: hmacKey},
	})
	t.Cleanup(e.Close)
	b := backend(t, e)
	got, err := b.ListPartitions(context.Background())
	if err != nil || !slices.Equal(got, []string{partition, "part-2", "part-3"}) {
		t.Fatalf("partitions %q, %v; want [%s part-2 part-3]", got, err, partition)
	}
	e.SetOutage(true)
	if _, err := b.ListPartitions(context.Background()); !metal.IsUnavailable(err) {
		t.Errorf("during an outage: %v, want ErrUnavailable", err)
	}
}
