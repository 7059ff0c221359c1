# metalkube — every entry point. `make help` lists the targets.

SHELL        := /usr/bin/env bash
.SHELLFLAGS  := -euo pipefail -c
ROOT         := $(CURDIR)
BIN          := $(ROOT)/bin
GO           ?= go
# One version for the binary, the image and the chart: the chart's appVersion,
# as is at its release tag (v<appVersion>), else marked as a development build
# of that commit (SemVer build metadata; the image tag writes "+" as "_").
APP_VERSION  := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' charts/metalkube/Chart.yaml)
COMMIT       ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY        ?= $(shell git rev-parse --git-dir >/dev/null 2>&1 && { git diff --quiet HEAD || echo .dirty; })
VERSION      ?= $(shell if [ "$$(git describe --tags --exact-match 2>/dev/null)" = "v$(APP_VERSION)" ] && [ -z "$(DIRTY)" ]; then echo "$(APP_VERSION)"; else echo "$(APP_VERSION)-dev+g$(COMMIT)$(DIRTY)"; fi)
IMAGE_TAG    := $(subst +,_,$(VERSION))
VERSION_PKG  := github.com/metalkube/metalkube/shared/version
# component-base's version is what the ccm and the upstream libraries log and
# serve as kubernetes_build_info.
LDFLAGS      := -s -w -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Commit=$(COMMIT) \
                -X k8s.io/component-base/version.gitVersion=v$(VERSION) -X k8s.io/component-base/version.gitCommit=$(COMMIT) \
                -X k8s.io/component-base/version.gitTreeState=$(if $(DIRTY),dirty,clean)
# Every module of the workspace, as package patterns (patterns do not span modules).
MODULES      := $(shell $(GO) work edit -json | sed -n 's/.*"DiskPath": "\.\/\(.*\)".*/\1/p')
PKGS         := $(addprefix ./,$(addsuffix /...,$(MODULES)))
TEST_TIMEOUT ?= 30m
# Test binaries are linked without DWARF: no test reads it (stack traces use
# the symbol and line tables, which stay), and leaving it out takes ~40% off
# linking each of the ~100 test binaries every run links anew.
TEST_LDFLAGS ?= -w
BENCH        ?= .
DEMO_FLAGS   ?=

export METALKUBE_TESTBIN := $(BIN)

.PHONY: help
help: ## Show this help
	@awk 'BEGIN{FS=":.*## "} /^[a-z0-9-]+:.*## /{printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build the metalkube multicall binary into bin/
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/metalkube ./cmd/metalkube

# The chart's image scheme: global.image.repository:global.image.tag, the tag
# being the version ("+" written as "_").
IMAGE ?= ghcr.io/metalkube/metalkube:$(IMAGE_TAG)

.PHONY: image
image: ## Build the image here, no registry or engine needed: bin/metalkube-image.tar ($(IMAGE): the static binary FROM scratch, user 65532, the Dockerfile's layout) and the real node's bin/pause-image.tar; load with `ctr images import`, `podman load` or `docker load`
	$(GO) build -ldflags '$(LDFLAGS) -linkmode=external -extldflags=-static' -o $(BIN)/image/metalkube ./cmd/metalkube
	CGO_ENABLED=0 $(GO) build -ldflags '-s -w' -o $(BIN)/image/pause ./e2e/cmd/pause
	$(GO) run ./e2e/cmd/image -binary $(BIN)/image/metalkube -ref $(IMAGE) -out $(BIN)/metalkube-image.tar
	$(GO) run ./e2e/cmd/image -pause -binary $(BIN)/image/pause -out $(BIN)/pause-image.tar

.PHONY: image-docker
image-docker: ## Build the image with the Dockerfile (needs a Docker engine and its base images' registries)
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

CSI_NODE_IMAGE ?= ghcr.io/metalkube/metalkube-csi-node:$(IMAGE_TAG)

.PHONY: image-csi-node
image-csi-node: ## Build the csi node plugin's image (the binary with lvm2 and the file system tools; needs a Docker engine)
	docker build --target csi-node --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(CSI_NODE_IMAGE) .

.PHONY: deps
deps: ## Install the Debian packages the tests use (nftables, iperf3, cloud-init, lvm2, xfsprogs), if missing
	hack/deps.sh

.PHONY: testbin
testbin: ## Build the test control plane (kube-apiserver, etcd), the real node (kubelet, kube-scheduler, kube-proxy, containerd, crictl, e2e/cmd/helminstall), machine-controller-manager, metal-operator, the in-cluster IPAM provider, csi-sanity, the external-provisioner and external-resizer, the Cluster API core manager and kubeadm providers from their Go modules, once
	hack/testbin.sh

.PHONY: test
test: deps testbin build ## Set up what is missing, then vet and run every test of every module (the e2e suite runs bin/metalkube)
	$(GO) vet $(PKGS)
	@# The fuzz targets build (instrumented, every dependency again) and run
	@# beside the tests at the lowest priority, on the CPU the tests leave
	@# idle while they wait for controllers; their output follows the tests'.
	fuzzlog=$$(mktemp); FUZZTIME=5s nice -n 19 hack/fuzz.sh >"$$fuzzlog" 2>&1 & fuzz=$$!; status=0; \
	METALKUBE_BINARY=$(BIN)/metalkube $(GO) test -count=1 -ldflags='$(TEST_LDFLAGS)' -timeout $(TEST_TIMEOUT) $(PKGS) || status=$$?; \
	echo "the fuzz targets (hack/fuzz.sh, FUZZTIME=5s):"; wait $$fuzz || status=$$?; cat "$$fuzzlog"; rm -f "$$fuzzlog"; exit $$status

.PHONY: memory
memory: deps testbin ## Install every chart role into the real node (root) and print each container's memory, ready and idle: VmRSS, RssAnon, RssFile, Pss, the cgroup's working set; and of `metalkube version`
	METALKUBE_MEMORY_TABLE=$(BIN)/memory.md $(GO) test -count=1 -timeout 20m -run '^TestChartOnRealNode$$' ./e2e/realnode/
	cat $(BIN)/memory.md

.PHONY: e2e
e2e: deps testbin build ## Run the end-to-end suite alone (make test runs it too)
	METALKUBE_BINARY=$(BIN)/metalkube $(GO) test -count=1 -ldflags='$(TEST_LDFLAGS)' -timeout $(TEST_TIMEOUT) -v ./e2e/...

FUZZTIME ?= 10s

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (make test runs them for 5s)
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh

.PHONY: bench
bench: testbin ## Run the benchmarks (reported as ratios against the reference approach)
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -timeout $(TEST_TIMEOUT) $(PKGS)

.PHONY: demo
demo: deps testbin build ## As root: the real node first (kubelet, containerd) with the chart's roles installed by helm; then the local control plane, metal-operator, the IPAM provider, the fleet's BMCs and every component walk a shoot through its life (DEMO_FLAGS: e.g. --log-format=json, --real-node=off)
	$(GO) build -o $(BIN)/demo ./e2e/cmd/demo
	METALKUBE_BINARY=$(BIN)/metalkube exec $(BIN)/demo $(DEMO_FLAGS)

.PHONY: lint
lint: ## golangci-lint (.golangci.yml: gofmt, gci, go vet, staticcheck, revive, depguard), installed once from the Go module proxy
	"$$(hack/tool.sh golangci-lint)" run --allow-serial-runners $(PKGS)

.PHONY: generate
generate: ## Regenerate the deepcopy code of every API package, the CRDs and the chart's copies of them (pinned controller-gen)
	hack/generate.sh

.PHONY: update-golden
update-golden: testbin ## Rewrite the golden files under testdata/ from the current output
	@pkgs=$$(grep -rlE --include='*_test.go' 'testkit\.Golden|userdatatest\.' $(MODULES) | xargs -n1 dirname | sort -u | sed 's|^|./|'); \
	echo "$$pkgs"; $(GO) test -count=1 $$pkgs -args -update

.PHONY: verify
verify: lint ## lint, a doc.go in every package, and generated code and go.mod files current (fails on any change to the tree)
	hack/verify-docs.sh
	$(MAKE) generate
	@for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy); done
	@git diff --exit-code
	@out=$$(git status --porcelain); if [ -n "$$out" ]; then echo "untracked files after generate:"; echo "$$out"; exit 1; fi

.PHONY: version
version: ## Print the version the binary, the image and the chart get
	@echo "version: $(VERSION)"; echo "image: $(IMAGE)"

.PHONY: clean
clean: ## Remove bin/ (the per-user control plane cache in ~/.cache/metalkube stays)
	rm -rf $(BIN)
