#!/usr/bin/env bash
# Builds what the real node test bed (e2e/framework/realnode) runs besides the
# test control plane of hack/controlplane.sh, from the Go module proxy, once
# per version into the per-user cache, and links it into the repository's
# git-ignored bin/:
#   kubelet, kube-scheduler, kube-proxy  from k8s.io/kubernetes, with the
#                        kube-apiserver's module (hack/tools/kube-apiserver)
#   containerd, containerd-shim-runc-v2, ctr  containerd v2
#   crictl               cri-tools, the CRI client the bed tears pods down with
#   helminstall          `helm install --wait` through Helm's Go packages at the
#                        version the charts module requires (e2e/cmd/helminstall),
#                        built in the workspace, so it shares its compiled
#                        Kubernetes libraries instead of building the Helm CLI
#                        with its own module graph
# runc, iptables and the CNI plugins come from Debian (hack/deps.sh).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${METALKUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/metalkube}
bin="$root/bin"
mkdir -p "$cache" "$bin"

containerd_version=v2.4.2
crictl_version=v1.36.0
kube_mod="$root/hack/tools/kube-apiserver"
kube_version=$(awk '$1=="require" && $2=="k8s.io/kubernetes" {print $3}' "$kube_mod/go.mod")

# The Kubernetes commands: like hack/controlplane.sh, stamped with their version.
minor=${kube_version#v1.}; minor=${minor%%.*}
vpkg=k8s.io/component-base/version
kube_ldflags="-s -w -X $vpkg.gitVersion=$kube_version -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
for name in kube-scheduler kube-proxy kubelet; do
	out="$cache/$name-$kube_version/$name"
	if [ ! -x "$out" ]; then
		echo "building $name $kube_version (once; cached in $cache)" >&2
		mkdir -p "$(dirname "$out")"
		(cd "$kube_mod" && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "$kube_ldflags" -o "$out.tmp" "k8s.io/kubernetes/cmd/$name")
		mv "$out.tmp" "$out"
	fi
	ln -sf "$out" "$bin/$name"
done

download_dir="$root/shared"
# shellcheck source=lib/build-peer.sh
source "$root/hack/lib/build-peer.sh"
build containerd github.com/containerd/containerd/v2 "$containerd_version" ./cmd/containerd
build containerd-shim-runc-v2 github.com/containerd/containerd/v2 "$containerd_version" ./cmd/containerd-shim-runc-v2
build ctr github.com/containerd/containerd/v2 "$containerd_version" ./cmd/ctr
build crictl sigs.k8s.io/cri-tools "$crictl_version" ./cmd/crictl

# Our own program: rebuilt when its sources change (go build leaves an
# up-to-date binary alone), not cached per version.
(cd "$root" && go build -ldflags "-s -w" -o "$bin/helminstall" ./e2e/cmd/helminstall)
