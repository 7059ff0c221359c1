#!/usr/bin/env bash
# Builds the real peers the ironcore backend is tested against, from their Go
# modules on the module proxy, once per version:
#   metal-operator          the metal-operator manager (ServerClaim binding, power,
#                           discovery through its registry) at the version shared/
#                           requires for its API types;
#   metalprobe              metal-operator's probe agent, run by the fleet while
#                           a server is in discovery;
#   ipam-in-cluster         the Cluster API in-cluster IPAM provider;
#   gardener-resource-manager  Gardener's, at the gardener version the workspace
#                           requires, built with the workspace's module set (the
#                           one the extension is built and tested with);
#   gardener-apiserver      Gardener's API server, the same way (the webhook
#                           suite admits Shoots through it).
# Like hack/controlplane.sh, the binaries are kept in a per-user cache keyed by
# version and linked into the repository's git-ignored bin/.
#
# The IPAM provider version is pinned once, in shared/testenv (whose pool CRDs
# must match): v1.1.0 is the newest release the module proxy serves (v1.1.1
# and v1.2.0 answer 403) and the first that speaks ipam.cluster.x-k8s.io/v1beta2,
# the version shared/ uses.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${METALKUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/metalkube}
bin="$root/bin"
mkdir -p "$cache" "$bin"

ipam_module=sigs.k8s.io/cluster-api-ipam-provider-in-cluster
ipam_version=$(sed -n 's/^const InClusterIPAMVersion = "\(.*\)"$/\1/p' "$root/shared/testenv/crds.go")
[ -n "$ipam_version" ] || { echo "InClusterIPAMVersion not found in shared/testenv/crds.go" >&2; exit 1; }
metal_module=github.com/ironcore-dev/metal-operator
metal_version=$(cd "$root/shared" && go list -m -f '{{.Version}}' "$metal_module")

download_dir="$root/shared"
# shellcheck source=lib/build-peer.sh
source "$root/hack/lib/build-peer.sh"

build ipam-in-cluster "$ipam_module" "$ipam_version" .
build metal-operator "$metal_module" "$metal_version" ./cmd
build metalprobe "$metal_module" "$metal_version" ./cmd/metalprobe

# gardener-resource-manager and gardener-apiserver (the garden's aggregated
# API server: Shoots, CloudProfiles, ...): built in the workspace, so that they
# share the Go build cache with the extension instead of compiling a second
# dependency set.
gardener_module=github.com/gardener/gardener
gardener_version=$(cd "$root/components/extension" && go list -m -f '{{.Version}}' "$gardener_module")
for name in gardener-resource-manager gardener-apiserver; do
	out="$cache/$name-$gardener_version/$name"
	if [ ! -x "$out" ]; then
		echo "building $name $gardener_version (once; cached in $cache)" >&2
		mkdir -p "$(dirname "$out")"
		(cd "$root" && go build -o "$out.tmp" "$gardener_module/cmd/$name")
		mv "$out.tmp" "$out"
	fi
	ln -sf "$out" "$bin/$name"
done
