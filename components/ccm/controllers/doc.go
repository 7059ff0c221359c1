// Package controllers holds the ccm's controllers beyond the upstream ones:
//
//   - node-labels (NodeLabels): keeps the Node labels copied from backend
//     server labels and machine tags in sync after initialization (the
//     upstream cloud-node controller sets them only once), removing those the
//     backend dropped; it remembers what it set in an annotation.
//   - pod-cidr (PodCIDR): sets spec.podCIDR(s) of a new Node from its
//     InternalIP: the node's offset in the node network picks the same offset
//     block of the cluster's pod network, so the mapping needs no allocator
//     state and survives restarts.
//   - backend-health (Health): polls the backend and reports it on the
//     controller manager's /healthz under its own name, so that liveness
//     leaves it out (`/healthz?exclude=metalkube-backend-health`) and an
//     outage turns readiness red instead of crash-looping the process.
//   - Running: the health of the controllers above; their /healthz checks
//     fail once the manager running them stopped.
//
// Backend calls: none of their own beyond the shared machine cache
// (ListMachines) and Health.Healthy.
package controllers
