// Package version holds the one version of metalkube: the binary reports it,
// the image is tagged with it, the chart's appVersion names it, and the
// extension deploys the ccm and mcm from the image of its own version unless
// told otherwise. `make build` stamps Version and Commit with -ldflags.
package version
