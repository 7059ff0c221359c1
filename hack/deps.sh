#!/usr/bin/env bash
# Installs the Debian packages the tests use, where they are missing:
#   nftables, iproute2  the firewall's packet tests (real kernel, network namespaces)
#   iperf3              the firewall's data-path benchmark
#   cloud-init          `cloud-init schema`, which validates rendered cloud-config
#   lvm2, xfsprogs,     the csi driver (lvcreate, vgcreate, mkfs.xfs, mkfs.ext4, resize2fs)
#   e2fsprogs           on loop devices its tests create
#   runc, iptables,     the real node test bed (e2e/framework/realnode): the
#   containernetworking-plugins  OCI runtime, kube-proxy's and the kubelet's
#                       rules, the bridge, host-local and portmap CNI plugins
# Needs root (or sudo) and apt-get; elsewhere it says what is missing and goes on,
# and the tests that need a tool skip with a message naming it.
set -euo pipefail

packages=(nftables iproute2 iperf3 cloud-init lvm2 xfsprogs e2fsprogs runc iptables containernetworking-plugins)
declare -A probe=([nftables]=nft [iproute2]=ip [iperf3]=iperf3 [cloud-init]=cloud-init [lvm2]=lvcreate [xfsprogs]=mkfs.xfs [e2fsprogs]=mkfs.ext4 [runc]=runc [iptables]=iptables [containernetworking-plugins]=/usr/lib/cni/bridge)

missing=()
for p in "${packages[@]}"; do
	command -v "${probe[$p]}" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
if ! command -v apt-get >/dev/null 2>&1 || { [ -n "$sudo" ] && ! command -v sudo >/dev/null 2>&1; }; then
	echo "deps: cannot install ${missing[*]} (no apt-get or root); tests needing them will skip" >&2
	exit 0
fi
echo "deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
