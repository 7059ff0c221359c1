// Command image builds the metalkube image (or the real node's pause image)
// on this machine with no registry and no container engine, as a `docker
// save` archive (`make image`):
//
//	image -binary bin/image/metalkube -ref ghcr.io/metalkube/metalkube:v0.1.0 -out bin/metalkube-image.tar
//	image -pause -binary bin/pause -out bin/pause-image.tar
//
// It prints the image's reference and ID. Load the archive with `ctr -n
// k8s.io images import`, `podman load` or `docker load`.
package main
