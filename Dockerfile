# One image for every metalkube component: the static multicall binary on a
# distroless base, running as a non-root user. Build: make image
FROM golang:1.26 AS build
# .git stays out of the build context (.dockerignore): `make image` passes the
# version and commit it describes, so the binary does not report "dev".
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build --mount=type=cache,target=/go/pkg/mod \
    CGO_ENABLED=0 GOFLAGS=-trimpath make build VERSION="$VERSION" COMMIT="$COMMIT"

# The csi node plugin's image (make image-csi-node): the same binary with the
# tools `metalkube csi --role=node` runs: lvm2, mkfs.ext4/resize2fs/dumpe2fs,
# mkfs.xfs/xfs_growfs, blkid and losetup. It runs as root (see the chart's
# csi values). Not the default target: the stage below is.
FROM debian:12-slim AS csi-node
RUN apt-get update \
    && apt-get install -y --no-install-recommends lvm2 e2fsprogs xfsprogs util-linux \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/bin/metalkube /usr/local/bin/metalkube
ENTRYPOINT ["/usr/local/bin/metalkube"]

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/metalkube /usr/local/bin/metalkube
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/metalkube"]
