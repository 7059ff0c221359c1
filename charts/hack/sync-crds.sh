#!/bin/sh
# Copies metalkube's generated CRDs into the chart, so that the chart ships
# exactly what controller-gen produced, and the firewall's into the
# extension, which deploys them into metal-stack shoots with a firewall. Run from anywhere; `make generate`
# calls it after the components' generators. charts/chart_test.go fails when
# a copy differs from its source.
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
# source directory -> directory that ships them
sync() {
	src="$root/$1"
	dst="$root/$2"
	mkdir -p "$dst"
	rm -f "$dst"/*.yaml
	for f in "$src"/*.yaml; do
		cp "$f" "$dst/"
	done
}
sync components/firewall/config/crd charts/metalkube/charts/firewall/crds
sync components/firewall/config/crd components/extension/controller/infrastructure/crds
sync components/capi/config/crd charts/metalkube/charts/capi/crds
