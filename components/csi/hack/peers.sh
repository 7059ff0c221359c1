#!/usr/bin/env bash
# Builds the real peers the csi driver is tested against, from the Go module
# proxy with each module's own go.mod, once per version:
#   csi-sanity            the CSI conformance tester (kubernetes-csi/csi-test)
#   csi-provisioner       the external-provisioner sidecar
#   csi-resizer           the external-resizer sidecar
# Like hack/peers.sh, the binaries are kept in a per-user cache keyed by
# version and linked into the repository's git-ignored bin/. The proxy
# refuses version lists of these modules (403): the versions are pinned here.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/../.." && pwd)
cache=${METALKUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/metalkube}
bin="$root/bin"
mkdir -p "$cache" "$bin"

# build name module version package
build() {
	local name=$1 module=$2 version=$3 pkg=$4
	local out="$cache/$name-$version/$name"
	if [ ! -x "$out" ]; then
		echo "building $name $version from $module (once; cached in $cache)" >&2
		local src work
		src=$(cd "$here" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$module@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
		[ -d "$src" ] || { echo "module $module@$version: not in the module cache" >&2; exit 1; }
		work=$(mktemp -d)
		cp -r "$src/." "$work/"
		chmod -R u+w "$work"
		rm -rf "$work/vendor"
		mkdir -p "$(dirname "$out")"
		(cd "$work" && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out.tmp" "$pkg")
		rm -rf "$work"
		mv "$out.tmp" "$out"
	fi
	ln -sf "$out" "$bin/$name"
}

build csi-sanity github.com/kubernetes-csi/csi-test/v5 v5.6.0 ./cmd/csi-sanity
build csi-provisioner github.com/kubernetes-csi/external-provisioner/v6 v6.4.0 ./cmd/csi-provisioner
build csi-resizer github.com/kubernetes-csi/external-resizer v1.14.0 ./cmd/csi-resizer
