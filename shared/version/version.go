package version

import "strings"

// Build information, stamped by `make build` with
// -ldflags "-X github.com/metalkube/metalkube/shared/version.Version=... -X ...Commit=...".
// Unstamped builds (go run, go test) report "dev".
var (
	Version = "dev"
	Commit  = "unknown"
)

// Repository is the image repository metalkube is published to.
const Repository = "ghcr.io/metalkube/metalkube"

// Image is the metalkube image of this binary's version: the same tag
// `make image` gives and the chart's appVersion names. A build that is not
// stamped has no published image, so it names the "dev" tag, which only a
// local `make image VERSION=dev` provides.
func Image() string {
	return Repository + ":" + Tag(Version)
}

// Tag turns a version into an image tag: the version itself, with the "+"
// of SemVer build metadata (not allowed in a tag) written as "_", as Helm
// does for chart versions.
func Tag(v string) string {
	return strings.ReplaceAll(v, "+", "_")
}
