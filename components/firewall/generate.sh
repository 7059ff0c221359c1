#!/bin/sh
# Regenerates deepcopy functions and CRD manifests of the firewall API with a
# pinned controller-gen. config/crd holds metalkube's CRDs (shipped);
# config/crd-metalstack holds the metal-stack.io/v1 compatibility CRD, used by
# tests and for clusters that do not already have metal-stack's own;
# config/rbac the agent's ClusterRole.
set -eu
cd "$(dirname "$0")"
CONTROLLER_GEN="${CONTROLLER_GEN:-go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.20.1}"
$CONTROLLER_GEN object paths=./api/...
$CONTROLLER_GEN crd paths=./api/v1alpha1/... output:crd:artifacts:config=config/crd
$CONTROLLER_GEN crd paths=./api/metalstackv1/... output:crd:artifacts:config=config/crd-metalstack
$CONTROLLER_GEN rbac:roleName=metalkube-firewall paths=./controller/... output:rbac:artifacts:config=config/rbac
