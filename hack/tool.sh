#!/usr/bin/env bash
# Prints the path of a Go tool at a pinned version, installing it once from the
# Go module proxy into the per-user cache (keyed by version, shared by every
# clone on the machine):
#   hack/tool.sh controller-gen  -> sigs.k8s.io/controller-tools/cmd/controller-gen
#   hack/tool.sh golangci-lint   -> github.com/golangci/golangci-lint/v2/cmd/golangci-lint
#   hack/tool.sh staticcheck     -> honnef.co/go/tools/cmd/staticcheck
# The versions are pinned here and nowhere else.
set -euo pipefail

case ${1:-} in
controller-gen) pkg=sigs.k8s.io/controller-tools/cmd/controller-gen version=v0.20.1 ;;
golangci-lint) pkg=github.com/golangci/golangci-lint/v2/cmd/golangci-lint version=v2.15.0 ;;
staticcheck) pkg=honnef.co/go/tools/cmd/staticcheck version=v0.7.0 ;;
*)
	echo "usage: $0 controller-gen|golangci-lint|staticcheck" >&2
	exit 2
	;;
esac
name=$1
cache=${METALKUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/metalkube}
dir="$cache/$name-$version"
if [ ! -x "$dir/$name" ]; then
	echo "installing $name $version (once; cached in $cache)" >&2
	mkdir -p "$dir"
	# Outside the workspace, so that the tool's own go.mod decides its
	# dependencies.
	(cd "$dir" && GOWORK=off GOFLAGS=-mod=mod GOBIN="$dir/.tmp" go install "$pkg@$version")
	mv "$dir/.tmp/$name" "$dir/$name"
	rmdir "$dir/.tmp"
fi
echo "$dir/$name"
