package helper

import (
	"testing"

	"github.com/metalkube/metalkube/components/extension/apis/metal/v1alpha1"
)

func TestClusterPartition(t *testing.T) {
	cpc := &v1alpha1.CloudProfileConfig{Regions: []v1alpha1.Region{{Name: "fra", Zones: []v1alpha1.Zone{{Name: "fra-a", Partition: "rack-1"}}}}}
	for _, tc := range []struct {
		name  string
		ic    *v1alpha1.InfrastructureConfig
		zones [][]string
		want  string
	}{
		{name: "the InfrastructureConfig's partition wins", ic: &v1alpha1.InfrastructureConfig{Partition: "rack-9"}, zones: [][]string{{"fra-a"}}, want: "rack-9"},
		{name: "the first zoned pool's first zone, mapped by the CloudProfile", ic: &v1alpha1.InfrastructureConfig{}, zones: [][]string{nil, {"fra-a", "fra-b"}}, want: "rack-1"},
		{name: "a zone the CloudProfile does not map is its own partition", zones: [][]string{{"fra-b"}}, want: "fra-b"},
		{name: "no zones: the region", zones: [][]string{nil}, want: "fra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClusterPartition(cpc, tc.ic, "fra", tc.zones); got != tc.want {
				t.Errorf("partition = %q, want %q", got, tc.want)
			}
		})
	}
}
