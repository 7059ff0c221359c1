package metalstack

import (
	"maps"
	"slices"
	"strings"

	"github.com/metal-stack/metal-lib/pkg/tag"
)

// Tags and labels the backend writes and reads. The tag keys are metal-stack's
// own (metal-lib/pkg/tag), so machines and IPs allocated by metal-stack's
// components and by metalkube are found the same way.
const (
	// TagCluster binds a machine, IP or network to a cluster.
	TagCluster = tag.ClusterID
	// TagMachineName holds the name a machine was allocated for.
	TagMachineName = tag.MachineName
	// TagService binds an IP to a Service: value <cluster>/<namespace>/<name>.
	TagService = tag.ClusterServiceFQN
	// LabelNetworkName holds the name a network was allocated for.
	LabelNetworkName = "network.metalkube.io/name"

	// Machine labels reported in metal.Machine.Labels.
	LabelSize      = "machine.metal-stack.io/size"
	LabelPartition = "machine.metal-stack.io/partition"
	LabelRack      = tag.MachineRack
)

// reserved are tag keys the backend manages; they are not user tags.
var reserved = []string{TagCluster, TagMachineName}

// ServiceTag returns the tag binding an IP to the Service namespace/name of
// cluster, as metal-ccm writes it.
func ServiceTag(cluster, namespace, name string) (key, value string) {
	return TagService, cluster + "/" + namespace + "/" + name
}

// tagList renders tags as metal-api "key=value" strings (a tag with an empty
// value is just "key"), sorted, with the reserved pairs added.
func tagList(user map[string]string, extra ...string) []string {
	out := make([]string, 0, len(user)+len(extra))
	for k, v := range user {
		if slices.Contains(reserved, k) {
			continue
		}
		out = append(out, tagString(k, v))
	}
	slices.Sort(out)
	return append(out, extra...) // never nil
}

func tagString(k, v string) string {
	if v == "" {
		return k
	}
	return k + "=" + v
}

// tagMap parses metal-api tags into a map.
func tagMap(tags []string) map[string]string {
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		k, v, _ := strings.Cut(t, "=")
		out[k] = v
	}
	return out
}

// userTags returns the tags without the reserved ones, nil if none are left.
func userTags(all map[string]string) map[string]string {
	out := maps.Clone(all)
	for _, k := range reserved {
		delete(out, k)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// orEmpty returns s, or an empty slice for nil: metal-api wants required
// arrays present.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
