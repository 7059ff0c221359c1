#!/usr/bin/env bash
# Builds the test control plane (a real kube-apiserver and etcd, and the
# kube-controller-manager whose volume controllers the csi driver's
# provisioning test runs) from their upstream Go modules, once per version. The binaries are kept in a per-user cache keyed by
# version, so a fresh clone on the same machine does not rebuild them, and linked
# into the repository's git-ignored bin/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${METALKUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/metalkube}
bin="$root/bin"
mkdir -p "$cache" "$bin"

kube_version=$(awk '$1=="require" && $2=="k8s.io/kubernetes" {print $3}' "$root/hack/tools/kube-apiserver/go.mod")
etcd_version=$(awk '$1=="require" && $2=="go.etcd.io/etcd/server/v3" {print $3}' "$root/hack/tools/etcd/go.mod")

build() { # name version module-dir package ldflags
	local name=$1 version=$2 dir=$3 pkg=$4 ldflags=$5
	local out="$cache/$name-$version/$name"
	if [ ! -x "$out" ]; then
		echo "building $name $version (once; cached in $cache)" >&2
		mkdir -p "$(dirname "$out")"
		(cd "$dir" && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg")
		mv "$out.tmp" "$out"
	fi
	ln -sf "$out" "$bin/$name"
}

minor=${kube_version#v1.}; minor=${minor%%.*}
vpkg=k8s.io/component-base/version
build kube-apiserver "$kube_version" "$root/hack/tools/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver \
	"-s -w -X $vpkg.gitVersion=$kube_version -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
build kube-controller-manager "$kube_version" "$root/hack/tools/kube-apiserver" k8s.io/kubernetes/cmd/kube-controller-manager \
	"-s -w -X $vpkg.gitVersion=$kube_version -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
build etcd "$etcd_version" "$root/hack/tools/etcd" . "-s -w"
