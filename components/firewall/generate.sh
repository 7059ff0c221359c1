#!/bin/sh
# Regenerates the CRD manifests and RBAC of the firewall with a pinned
# controller-gen (hack/generate.sh, which `make generate` runs, sets
# CONTROLLER_GEN and regenerates the deepcopy code of every API package).
# config/crd holds metalkube's CRDs (shipped);
# config/crd-metalstack holds the metal-stack.io/v1 compatibility CRD, used by
# tests and for clusters that do not already have metal-stack's own;
# config/rbac the agent's ClusterRole.
set -eu
cd "$(dirname "$0")"
CONTROLLER_GEN="${CONTROLLER_GEN:-$(../../hack/tool.sh controller-gen)}"
$CONTROLLER_GEN crd paths=./apis/firewall/v1alpha1/... output:crd:artifacts:config=config/crd
$CONTROLLER_GEN crd paths=./apis/metalstack/v1/... output:crd:artifacts:config=config/crd-metalstack
$CONTROLLER_GEN rbac:roleName=metalkube-firewall paths=./controller/... output:rbac:artifacts:config=config/rbac
