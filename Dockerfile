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

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/metalkube /usr/local/bin/metalkube
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/metalkube"]
