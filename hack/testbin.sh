#!/usr/bin/env bash
# Builds what the tests run (make testbin) in two streams at once: the
# Kubernetes commands (hack/controlplane.sh, hack/node.sh) beside the other
# real peers (hack/peers.sh and the components' scripts). Each script builds
# only what its cache lacks; run one after another, a cold build leaves a core
# idle through every single-threaded link and the tail of each dependency
# chain. A script's output is printed whole when it ends, with its time; a
# failed script fails the run after the other stream has finished, and its
# output is printed last.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

streams=(
	"hack/controlplane.sh hack/node.sh"
	"hack/peers.sh components/mcm/hack/mcm-binary.sh components/csi/hack/peers.sh components/capi/hack/peers.sh"
)

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# stream n scripts...: runs the scripts in order and stops at the first that
# fails; its name goes to $logs/failed.
stream() {
	local n=$1 s log start
	shift
	for s in "$@"; do
		log="$logs/$n-${s//\//_}.log"
		start=$SECONDS
		if "$s" >"$log" 2>&1; then
			{ flock 9; echo "$s ($((SECONDS - start)) s)"; sed 's/^/  /' "$log"; } 9>"$logs/print.lock"
		else
			echo "$s" >>"$logs/failed"
			{ flock 9; echo "$s FAILED after $((SECONDS - start)) s"; } 9>"$logs/print.lock"
			return 1
		fi
	done
}

pids=()
for i in "${!streams[@]}"; do
	# shellcheck disable=SC2086 # the stream's scripts, split on spaces
	stream "$i" ${streams[$i]} &
	pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
if [ -f "$logs/failed" ]; then
	while read -r s; do
		echo "--- $s failed:" >&2
		cat "$logs"/*-"${s//\//_}".log >&2
		echo >&2
	done <"$logs/failed"
fi
exit $status
