#!/bin/sh
# Copies metalkube's generated CRDs into the chart, so that the chart ships
# exactly what controller-gen produced. Run from anywhere; `make generate`
# calls it after the components' generators. charts/chart_test.go fails when
# a copy differs from its source.
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
# source directory -> subchart whose crds/ ships them
sync() {
	src="$root/$1"
	dst="$root/charts/metalkube/charts/$2/crds"
	mkdir -p "$dst"
	rm -f "$dst"/*.yaml
	for f in "$src"/*.yaml; do
		cp "$f" "$dst/"
	done
}
sync components/firewall/config/crd firewall
sync components/capi/config/crd capi
