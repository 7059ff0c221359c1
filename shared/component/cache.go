package component

import (
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// stripManagedFields drops managedFields, which no component reads and which
// are often the largest part of a cached object.
var stripManagedFields = cache.TransformStripManagedFields()

// StripNode is the cache transform for Nodes: besides managedFields it drops
// status.images, the node's container images with all their names and
// digests (up to 50 entries, often most of a Node's size), which no
// component reads. Nodes are the one kind every cluster has many of and the
// ccm and lb cache. Never update a Node's status from a cached copy: its
// images would be lost (patches, which send only what changed, are safe).
func StripNode(obj any) (any, error) {
	if n, ok := obj.(*corev1.Node); ok {
		n.Status.Images = nil
	}
	return stripManagedFields(obj)
}

// CacheOptions are the cache options every component starts from:
// managedFields stripped from every cached object, and Nodes trimmed by
// StripNode. It is one default transform, not a per-kind ByObject entry:
// a ByObject entry makes the cache ask the API server for its REST mapping
// when the manager is created, so a component would fail at start, instead
// of retrying, while its API server is unreachable.
func CacheOptions() cache.Options {
	return cache.Options{DefaultTransform: StripNode}
}
