#!/usr/bin/env bash
# Regenerates every generated file of the workspace with pinned tools:
#   - deepcopy code (controller-gen object) of every API package: each
#     directory named api or apis in a module of go.work (packages without
#     +kubebuilder:object markers get none);
#   - the firewall's CRDs and RBAC (components/firewall/generate.sh);
#   - the capi provider's CRDs and RBAC (components/capi/generate.sh);
#   - the chart's copies of the CRDs (charts/hack/sync-crds.sh).
# `make verify` runs it and fails when the tree changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
CONTROLLER_GEN=$(hack/tool.sh controller-gen)
export CONTROLLER_GEN

for module in $(go work edit -json | sed -n 's/.*"DiskPath": "\.\/\(.*\)".*/\1/p'); do
	while IFS= read -r dir; do
		echo "deepcopy: $dir" >&2
		(cd "$module" && "$CONTROLLER_GEN" object paths="./${dir#"$module"/}/...")
	done < <(find "$module" -type d \( -name api -o -name apis \) -not -path '*/testdata/*' | sort)
done
components/firewall/generate.sh
components/capi/generate.sh
charts/hack/sync-crds.sh
