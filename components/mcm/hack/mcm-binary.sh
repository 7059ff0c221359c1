#!/usr/bin/env bash
# Builds machine-controller-manager's core controller (MachineDeployments,
# MachineSets) from the machine-controller-manager module at the version
# components/mcm requires, once per version. The binary is kept in a per-user
# cache keyed by version (like hack/controlplane.sh does for kube-apiserver and
# etcd) and linked into the repository's git-ignored bin/. It prints the path.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/../.." && pwd)
cache=${METALKUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/metalkube}
bin="$root/bin"
mkdir -p "$cache" "$bin"

module=github.com/gardener/machine-controller-manager
version=$(cd "$here" && go list -m -f '{{.Version}}' "$module")
out="$cache/machine-controller-manager-$version/machine-controller-manager"
if [ ! -x "$out" ]; then
	echo "building machine-controller-manager $version (once; cached in $cache)" >&2
	mkdir -p "$(dirname "$out")"
	# Built inside components/mcm so that it shares the workspace's version set
	# (and build cache) with the provider that runs beside it. Static (the real
	# node runs it from an image FROM scratch) the way `make image` links
	# metalkube: cgo on and no -trimpath, like every build and test of the
	# workspace, so that it links the packages they compiled instead of
	# compiling Kubernetes' libraries a second time (CGO_ENABLED=0 and
	# -trimpath change every package's build key).
	# The linker's warnings that getaddrinfo and getpwnam need glibc's shared
	# libraries at run time are shown only if the build fails.
	if ! (cd "$here" && go build -ldflags "-s -w -linkmode=external -extldflags=-static" -o "$out.tmp" "$module/cmd/machine-controller-manager") 2>"$out.log"; then
		cat "$out.log" >&2
		exit 1
	fi
	rm -f "$out.log"
	mv "$out.tmp" "$out"
fi
ln -sf "$out" "$bin/machine-controller-manager"
echo "$bin/machine-controller-manager"
