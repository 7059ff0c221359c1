package announce_test

import (
	"net/netip"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/metalkube/metalkube/components/lb/announce"
	"github.com/metalkube/metalkube/shared/testkit"
)

func input(t *testing.T, cfg announce.Config) announce.Input {
	t.Helper()
	nodes := []corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "worker-b", Labels: map[string]string{announce.DefaultASNLabel: "4200000002"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "worker-a", Labels: map[string]string{announce.DefaultASNLabel: "4200000001", announce.DefaultPeerAddressLabel: "10.0.0.254"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "no-asn"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "bad-asn", Labels: map[string]string{announce.DefaultASNLabel: "x"}}},
	}
	return announce.Input{
		Networks: map[string][]netip.Addr{
			"internet":    {netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("203.0.113.3"), netip.MustParseAddr("203.0.113.3")},
			"internet-v6": {netip.MustParseAddr("2001:db8:1::5")},
			"empty":       nil,
		},
		Nodes: cfg.NodesOf(nodes),
	}
}

func TestRenderGolden(t *testing.T) {
	base := announce.Config{Namespace: "metallb-system", ASNLabel: announce.DefaultASNLabel,
		PeerAddressLabel: announce.DefaultPeerAddressLabel, PeerAddress: announce.DefaultPeerAddress}
	for _, tc := range []struct {
		name   string
		mutate func(*announce.Config)
	}{
		{"metallb", func(c *announce.Config) { c.Mode = announce.ModeMetalLB }},
		{"metallb-l2-ebgp", func(c *announce.Config) { c.Mode, c.L2, c.PeerASN = announce.ModeMetalLB, true, 65000 }},
		{"cilium", func(c *announce.Config) { c.Mode = announce.ModeCilium }},
		{"none", func(c *announce.Config) { c.Mode = announce.ModeNone }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.mutate(&cfg)
			objs, err := cfg.Render(input(t, cfg))
			if err != nil {
				t.Fatal(err)
			}
			var out []byte
			for _, o := range objs {
				b, err := yaml.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				out = append(append(out, "---\n"...), b...)
			}
			path := filepath.Join("testdata", tc.name+".yaml")
			testkit.Golden(t, path, out)
		})
	}
}

func TestRenderRejectsUnknownMode(t *testing.T) {
	if _, err := (announce.Config{Mode: "bird"}).Render(announce.Input{}); err == nil {
		t.Fatal("unknown mode rendered")
	}
}
