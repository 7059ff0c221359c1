// Package nodelabels is the ccm's node-labels controller: it keeps the Node
// labels copied from backend server labels and machine tags in sync after
// initialization (the upstream cloud-node controller sets them only once),
// removing those the backend dropped; it remembers what it set in an
// annotation (AnnotationSyncedLabels).
//
// Backend calls: none of its own beyond the shared machine cache
// (ListMachines).
package nodelabels
