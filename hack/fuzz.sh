#!/usr/bin/env bash
# Runs every Go fuzz target of the workspace for a bounded time each
# (FUZZTIME, default 10s). Targets are found by their `func FuzzXxx(` in
# *_test.go files, so a new one runs without being listed here. A failure
# leaves its input under the package's testdata/fuzz/, which then runs as a
# regression case in every `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
status=0
while IFS=: read -r file _ line; do
	dir=$(dirname "$file")
	target=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
	echo "fuzz $dir $target ($fuzztime)"
	if ! (cd "$dir" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" . >/tmp/fuzz-$$.log 2>&1); then
		cat /tmp/fuzz-$$.log
		status=1
	fi
	tail -n 1 /tmp/fuzz-$$.log
done < <(grep -rnE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' cmd components shared e2e charts | sort)
rm -f /tmp/fuzz-$$.log
exit $status
