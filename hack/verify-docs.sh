#!/usr/bin/env bash
# Fails when a Go package of the workspace has no doc.go (STYLE.md: a doc.go in
# every package, starting "Package x ..." or, for a main package, "Command x ...").
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for module in $(go work edit -json | sed -n 's/.*"DiskPath": "\.\/\(.*\)".*/\1/p'); do
	while IFS= read -r dir; do
		if [ ! -f "$dir/doc.go" ]; then
			echo "$dir: no doc.go" >&2
			status=1
		elif ! grep -qE '^// (Package|Command) ' "$dir/doc.go"; then
			echo "$dir/doc.go: does not start with \"// Package <name>\" or \"// Command <name>\"" >&2
			status=1
		fi
	done < <(find "$module" -name '*.go' -not -name '*_test.go' -not -path '*/testdata/*' -printf '%h\n' | sort -u)
done
exit $status
