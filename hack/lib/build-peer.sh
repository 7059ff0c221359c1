# Sourced by the peer scripts (hack/peers.sh, components/csi/hack/peers.sh).
# build name module version package [go-mod-edit-flag...]: builds package
# (relative to the module root) of module@version from the Go module proxy, in
# a writable copy of the module with its own go.mod (a vendor directory is
# dropped; any further arguments are handed to `go mod edit` first, e.g. to
# drop a replace that points at a nested module the proxy's zip leaves out),
# once per
# version into $cache/<name>-<version>/, and links it into $bin. The caller
# sets cache, bin and download_dir (a module directory to run
# `go mod download` in).
build() {
	local name=$1 module=$2 version=$3 pkg=$4
	shift 4
	local out="$cache/$name-$version/$name"
	if [ ! -x "$out" ]; then
		echo "building $name $version from $module (once; cached in $cache)" >&2
		local src work
		src=$(cd "$download_dir" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$module@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
		[ -d "$src" ] || { echo "module $module@$version: not in the module cache" >&2; exit 1; }
		work=$(mktemp -d)
		cp -r "$src/." "$work/"
		chmod -R u+w "$work"
		rm -rf "$work/vendor"
		# The copy goes also when the build fails (a module's copy is
		# hundreds of MB).
		if ! { { [ $# -eq 0 ] || (cd "$work" && GOWORK=off go mod edit "$@"); } &&
			mkdir -p "$(dirname "$out")" &&
			(cd "$work" && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out.tmp" "$pkg"); }; then
			rm -rf "$work"
			echo "building $name $version from $module failed" >&2
			exit 1
		fi
		rm -rf "$work"
		mv "$out.tmp" "$out"
	fi
	ln -sf "$out" "$bin/$name"
}
