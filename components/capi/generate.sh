#!/bin/sh
# Regenerates the CRD manifests and RBAC of the capi provider with a pinned
# controller-gen (hack/generate.sh, which `make generate` runs, sets
# CONTROLLER_GEN and regenerates the deepcopy code of every API package).
# config/crd holds the provider's CRDs; config/rbac its ClusterRole.
set -eu
cd "$(dirname "$0")"
CONTROLLER_GEN="${CONTROLLER_GEN:-$(../../hack/tool.sh controller-gen)}"
$CONTROLLER_GEN crd paths=./apis/infrastructure/v1alpha1/... output:crd:artifacts:config=config/crd
$CONTROLLER_GEN rbac:roleName=metalkube-capi paths=./controller/... output:rbac:artifacts:config=config/rbac
