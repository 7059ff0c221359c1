#!/usr/bin/env bash
# Builds csi-sanity, the CSI conformance tester of the Kubernetes storage SIG
# (github.com/kubernetes-csi/csi-test, cmd/csi-sanity), from the Go module
# proxy with the module's own go.mod, once per version. The binary is kept in
# a per-user cache keyed by version (like hack/peers.sh does) and linked into
# the repository's git-ignored bin/. It prints the path.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/../.." && pwd)
cache=${METALKUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/metalkube}
bin="$root/bin"
mkdir -p "$cache" "$bin"

module=github.com/kubernetes-csi/csi-test/v5
version=v5.6.0
out="$cache/csi-sanity-$version/csi-sanity"
if [ ! -x "$out" ]; then
	echo "building csi-sanity $version (once; cached in $cache)" >&2
	src=$(cd "$here" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$module@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[ -d "$src" ] || { echo "module $module@$version: not in the module cache" >&2; exit 1; }
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	cp -r "$src/." "$work/"
	chmod -R u+w "$work"
	mkdir -p "$(dirname "$out")"
	(cd "$work" && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out.tmp" ./cmd/csi-sanity)
	mv "$out.tmp" "$out"
fi
ln -sf "$out" "$bin/csi-sanity"
echo "$bin/csi-sanity"
