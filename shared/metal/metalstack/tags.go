package metalstack

import (
	"maps"
	"slices"
	"strings"

	"github.com/metal-stack/metal-lib/pkg/tag"

	"github.com/metalkube/metalkube/shared/metal"
)

// Tags and labels the backend writes and reads. The tag keys are metal-stack's
// own (metal-lib/pkg/tag), so machines and IPs allocated by metal-stack's
// components and by metalkube are found the same way.
const (
	// TagCluster binds a machine, IP or network to a cluster.
	TagCluster = tag.ClusterID
	// TagMachineName holds the name a machine was allocated for.
	TagMachineName = tag.MachineName
	// TagService binds an IP to a Service: value <cluster>/<namespace>/<name>,
	// as metal-ccm writes it. An IP shared by several Services carries the
	// tag once per Service.
	TagService = tag.ClusterServiceFQN
	// TagMachineID marks an IP of machine scope (metal-api tags the IPs it
	// acquires for a machine with it and refuses to free them).
	TagMachineID = tag.MachineID
	// TagEgress marks an IP a cluster uses for egress.
	TagEgress = tag.ClusterEgress
	// LabelNetworkName holds the name a network was allocated for.
	LabelNetworkName = "network.metalkube.io/name"

	// Machine labels reported in metal.Machine.Labels.
	LabelSize      = "machine.metal-stack.io/size"
	LabelPartition = "machine.metal-stack.io/partition"
	LabelRack      = tag.MachineRack
	LabelChassis   = tag.MachineChassis
	LabelASN       = tag.MachineNetworkPrimaryASN
)

// reserved are tag keys the backend manages; they are not user tags.
var reserved = []string{TagCluster, TagMachineName, TagMachineID}

// system are the tags metal-api adds to every machine it allocates
// (makeMachineSystemLabels in metal-api's service/machine-service.go): they
// are reported as labels, never as user tags, and never sent back.
var system = []string{LabelASN, LabelRack, LabelChassis}

// ServiceTag returns the tag binding an IP to the Service namespace/name of
// cluster, as metal-ccm writes it.
func ServiceTag(cluster, namespace, name string) (key, value string) {
	return TagService, cluster + "/" + namespace + "/" + name
}

// tagList renders tags as metal-api "key=value" strings (a tag with an empty
// value is just "key"), sorted, with the reserved pairs added. metalkube's
// Service tags (metal.TagServicePrefix) are written in metal-ccm's form;
// one without a cluster as value (empty or "true") gets cluster.
func tagList(user map[string]string, cluster string, extra ...string) []string {
	out := make([]string, 0, len(user)+len(extra))
	for k, v := range user {
		if slices.Contains(reserved, k) || slices.Contains(system, k) {
			continue
		}
		if svc, ok := strings.CutPrefix(k, metal.TagServicePrefix); ok {
			if v == "" || v == "true" {
				v = cluster
			}
			out = append(out, TagService+"="+v+"/"+svc)
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

// tagMap parses metal-api tags into a map. metal-ccm's Service tags, which
// repeat one key, become metalkube's: metal.TagServicePrefix +
// "<namespace>/<name>" with the cluster as value.
func tagMap(tags []string) map[string]string {
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		k, v, _ := strings.Cut(t, "=")
		if k == TagService {
			if cluster, svc, ok := strings.Cut(v, "/"); ok {
				out[metal.TagServicePrefix+svc] = cluster
			}
			continue
		}
		out[k] = v
	}
	return out
}

// serviceClusters returns the clusters of an IP's Service tags.
func serviceClusters(tags []string) []string {
	var out []string
	for _, t := range tags {
		if v, ok := strings.CutPrefix(t, TagService+"="); ok {
			if cluster, _, ok := strings.Cut(v, "/"); ok && !slices.Contains(out, cluster) {
				out = append(out, cluster)
			}
		}
	}
	return out
}

// memberOf reports whether metal-api tags bind an object to cluster: its
// cluster tag or one of its Service tags names exactly that cluster.
// (metal-ccm's IsMemberOfCluster compares by prefix, so that cluster "c1"
// also claims the IPs of "c10"; this does not.)
func memberOf(tags []string, cluster string) bool {
	return slices.Contains(tags, TagCluster+"="+cluster) || slices.Contains(serviceClusters(tags), cluster)
}

// userTags returns the tags without the reserved and system ones, nil if
// none are left.
func userTags(all map[string]string) map[string]string {
	out := maps.Clone(all)
	for _, k := range append(slices.Clone(reserved), system...) {
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
