// Package image builds container images on this machine, with no registry
// and no container engine: an image is a set of files on an empty base
// (FROM scratch), written with go-containerregistry as a `docker save`
// archive that `ctr images import` (and `docker load`, `podman load`) reads.
//
// Metalkube lays out the one metalkube image the way the Dockerfile does
// (/usr/local/bin/metalkube, the non-root user 65532, the binary as the
// entrypoint); Pause lays out the pod sandbox image of the real node test
// bed (cmd/pause as /pause). Building the same files twice gives the same
// image ID: every time stamp is fixed.
package image
