#!/usr/bin/env bash
# Builds the real peers the csi driver is tested against, from the Go module
# proxy with each module's own go.mod, once per version:
#   csi-sanity            the CSI conformance tester (kubernetes-csi/csi-test)
#   csi-provisioner       the external-provisioner sidecar
#   csi-resizer           the external-resizer sidecar
# at the releases built against Kubernetes 1.36 (client-go v0.36), the ones
# the chart's csi subchart runs.
# Like hack/peers.sh, the binaries are kept in a per-user cache keyed by
# version and linked into the repository's git-ignored bin/. The proxy
# refuses version lists of these modules (403): the versions are pinned here.
# node-driver-registrar and livenessprobe are not built: their module paths
# lack the /v2 suffix their v2.x tags need, and the proxy answers 403 to every
# version of both (tags, +incompatible, pseudo-versions), so the chart uses
# their images (v2.17.0, v2.19.0) without a test run here.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/../.." && pwd)
cache=${METALKUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/metalkube}
bin="$root/bin"
mkdir -p "$cache" "$bin"

download_dir="$here"
# shellcheck source=../../../hack/lib/build-peer.sh
source "$root/hack/lib/build-peer.sh"

build csi-sanity github.com/kubernetes-csi/csi-test/v5 v5.6.0 ./cmd/csi-sanity
build csi-provisioner github.com/kubernetes-csi/external-provisioner/v6 v6.3.0 ./cmd/csi-provisioner
build csi-resizer github.com/kubernetes-csi/external-resizer/v2 v2.2.0 ./cmd/csi-resizer
