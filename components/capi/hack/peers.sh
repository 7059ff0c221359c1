#!/usr/bin/env bash
# Builds the real Cluster API peers the capi provider is tested against, from
# the Go module proxy, once per version:
#   capi-manager            the core manager (Cluster, Machine, MachineSet,
#                           MachineDeployment controllers), sigs.k8s.io/cluster-api/core
#   capi-kubeadm-bootstrap  the kubeadm bootstrap provider (KubeadmConfig ->
#                           bootstrap data Secret)
#   capi-kubeadm-controlplane  the kubeadm control-plane provider
#                           (KubeadmControlPlane)
# The version is the one of sigs.k8s.io/cluster-api/api the provider is built
# against. The module's go.mod replaces its api module with ./api, a nested
# module the proxy's zip of sigs.k8s.io/cluster-api leaves out: the copy
# requires the published api module of the same version instead. Like
# hack/peers.sh, the binaries are kept in a per-user cache keyed by version and
# linked into the repository's git-ignored bin/.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/../.." && pwd)
cache=${METALKUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/metalkube}
bin="$root/bin"
mkdir -p "$cache" "$bin"

module=sigs.k8s.io/cluster-api
version=$(cd "$here" && go list -m -f '{{.Version}}' "$module/api")
[ -n "$version" ] || { echo "$module/api: no version required by $here/go.mod" >&2; exit 1; }

download_dir="$here"
# shellcheck source=../../../hack/lib/build-peer.sh
source "$root/hack/lib/build-peer.sh"

edit=(-dropreplace="$module/api" -require="$module/api@$version")
build capi-manager "$module" "$version" ./core "${edit[@]}"
build capi-kubeadm-bootstrap "$module" "$version" ./bootstrap/kubeadm "${edit[@]}"
build capi-kubeadm-controlplane "$module" "$version" ./controlplane/kubeadm "${edit[@]}"
