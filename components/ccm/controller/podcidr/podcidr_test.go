package podcidr_test

import (
	"net/netip"
	"testing"

	"github.com/metalkube/metalkube/components/ccm/controller/podcidr"
)

func TestPodCIDRFor(t *testing.T) {
	v4 := podcidr.Family{NodeNetwork: netip.MustParsePrefix("10.0.0.0/16"), ClusterCIDR: netip.MustParsePrefix("10.244.0.0/14"), MaskSize: 24}
	v6 := podcidr.Family{NodeNetwork: netip.MustParsePrefix("fd00:10::/64"), ClusterCIDR: netip.MustParsePrefix("fd00:244::/56"), MaskSize: 80}
	for _, tc := range []struct {
		name string
		f    podcidr.Family
		ip   string
		want string
	}{
		{"first", v4, "10.0.0.1", "10.244.1.0/24"},
		{"carry into the next octet", v4, "10.0.1.4", "10.245.4.0/24"},
		{"outside the node network", v4, "10.1.0.1", ""},
		{"beyond the cluster CIDR", v4, "10.0.4.0", ""},
		{"IPv6", v6, "fd00:10::9", "fd00:244:0:0:9::/80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.f.PodCIDRFor(netip.MustParseAddr(tc.ip))
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %s, want an error", got)
				}
				return
			}
			if err != nil || got != netip.MustParsePrefix(tc.want) {
				t.Fatalf("got %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}
