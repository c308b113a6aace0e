# ssebridge: build, run, test and generate. `make` or `make help` lists the
# targets.
#
# Every target installs what it needs on first use: Go tools at pinned
# versions into .tools/bin (git-ignored), Debian packages with apt-get when
# run as root (otherwise it names the packages to install). CI runs
# `bash .ci/run`, which runs `make test`.

GO       ?= go
GOFMT    ?= $(shell $(GO) env GOROOT)/bin/gofmt
RUN_ARGS ?=
FUZZTIME ?= 30s
FUZZ_PKGS ?= ./...
BENCH    ?= .
SCENARIOS ?=

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

# Pinned tools. protoc-gen-go and the grpc-gateway plugins match the
# google.golang.org/protobuf and grpc-gateway/v2 versions in go.mod: change
# them together, then run `make generate` and commit gen/.
BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GRPC_GATEWAY_VERSION       := v2.33.0
BENCHSTAT_VERSION          := v0.0.0-20260908200009-22c9c6c9d4da

TOOLBIN := .tools/bin
BUF     := $(TOOLBIN)/buf
export PATH := $(CURDIR)/$(TOOLBIN):$(PATH)

# Each tool has a stamp file named after its version, such as
# .tools/bin/.buf-v1.75.0. Targets depend on the stamp, so a tool is
# (re)installed only when its stamp is missing (a fresh clone, or a new pinned
# version) or its binary is missing; otherwise make does nothing.
#
# $(call go-tool,NAME,PACKAGE,VERSION) defines the stamp's rule.
define go-tool
$(TOOLBIN)/.$(1)-$(3): $(if $(wildcard $(TOOLBIN)/$(1)),,FORCE)
	@GO='$(GO)' bash scripts/go-install-tool.sh $(TOOLBIN) $(1) $(2) $(3)
endef

BUF_STAMP       := $(TOOLBIN)/.buf-$(BUF_VERSION)
BENCHSTAT_STAMP := $(TOOLBIN)/.benchstat-$(BENCHSTAT_VERSION)
PLUGIN_STAMPS   := \
	$(TOOLBIN)/.protoc-gen-go-$(PROTOC_GEN_GO_VERSION) \
	$(TOOLBIN)/.protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION) \
	$(TOOLBIN)/.protoc-gen-grpc-gateway-$(GRPC_GATEWAY_VERSION) \
	$(TOOLBIN)/.protoc-gen-openapiv2-$(GRPC_GATEWAY_VERSION)
TOOL_STAMPS := $(BUF_STAMP) $(PLUGIN_STAMPS)

$(eval $(call go-tool,buf,github.com/bufbuild/buf/cmd/buf,$(BUF_VERSION)))
$(eval $(call go-tool,protoc-gen-go,google.golang.org/protobuf/cmd/protoc-gen-go,$(PROTOC_GEN_GO_VERSION)))
$(eval $(call go-tool,protoc-gen-go-grpc,google.golang.org/grpc/cmd/protoc-gen-go-grpc,$(PROTOC_GEN_GO_GRPC_VERSION)))
$(eval $(call go-tool,protoc-gen-grpc-gateway,github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway,$(GRPC_GATEWAY_VERSION)))
$(eval $(call go-tool,protoc-gen-openapiv2,github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2,$(GRPC_GATEWAY_VERSION)))
$(eval $(call go-tool,benchstat,golang.org/x/perf/cmd/benchstat,$(BENCHSTAT_VERSION)))

FORCE:

.PHONY: help run build test test-go lint generate check-generate fuzz bench \
	tools bench-tools deps-race deps-browser test-browser clean
.PHONY: test-node test-python deps-node deps-protoc deps-python deps-netns deps-clients deps-redis

help: ## list the targets
	@echo 'usage: make TARGET [VAR=value]'
	@awk 'BEGIN { FS = ":.*## " } /^[a-z-]+:.*## / { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo 'variables: GO=$(GO) RUN_ARGS=$(RUN_ARGS) FUZZTIME=$(FUZZTIME) FUZZ_PKGS=$(FUZZ_PKGS) BENCH=$(BENCH)'

run: ## run the service on the in-memory default in development mode (HTTP/SSE :8080, gRPC :9090); extra flags in RUN_ARGS
	$(GO) run ./cmd/ssebridge serve --dev $(RUN_ARGS)

build: ## build bin/ssebridge
	$(GO) build -o bin/ssebridge ./cmd/ssebridge

# test runs every test. Each kind of test is its own test-* target and a
# prerequisite of test; later steps (Node, Python, Chromium) go next to
# test-go, each installing what it needs.
test: tools lint check-generate test-go test-node test-python ## run every test (installs pinned tools into .tools/ on first run)

test-go: deps-race deps-browser deps-netns deps-clients deps-redis ## Go tests with the race detector, fuzz seed corpora included
	$(GO) test -race -count=1 -timeout 20m ./...

# The race detector needs cgo: a C compiler and the C library headers.
deps-race:
	@bash scripts/require-debian-packages.sh gcc libc6-dev

# The Redis broker's tests start their own redis-server (internal/redistest)
# on a free loopback port, in a temporary directory.
deps-redis:
	@bash scripts/require-debian-packages.sh redis-server

# The dead-peer tests (internal/netnstest) join two network namespaces
# with a veth pair and silence one end with tc: iproute2's ip and tc.
# Without root they skip.
deps-netns:
	@bash scripts/require-debian-packages.sh iproute2

# rpcsse's tests read one stream with curl -N and the npm eventsource
# package (node_modules, from the lockfile) besides Go's client.
# Defined before their first use in a prerequisite list, where make
# expands them as it reads the rule.
NODE_MIN  := 18.20
NPM_STAMP := node_modules/.npm-ci-stamp

deps-clients: $(NPM_STAMP)
	@bash scripts/require-debian-packages.sh curl

# The browser tests drive Debian's headless Chromium, /usr/bin/chromium
# (package chromium; no browser is downloaded), and fail without it.
deps-browser:
	@bash scripts/require-debian-packages.sh chromium

test-browser: deps-race deps-browser ## only the tests that run Chromium
	$(GO) test -race -count=1 -run '^(TestBrowser|TestBrowserProxyMode|TestBrowserLibraryMode|TestTabsAreIsolated|TestConsoleInBrowser|TestConsoleWithTokens)$$' ./cmd/ssebridge ./internal/browsertest ./rpcsse

# Node.js runs the Node tests and protoc-gen-es. npm ci installs
# package-lock.json into node_modules (git-ignored), again only when
# package.json or the lockfile changes.

deps-node:
	@bash scripts/require-node.sh $(NODE_MIN)

$(NPM_STAMP): package.json package-lock.json
	@bash scripts/require-node.sh $(NODE_MIN)
	npm ci --no-audit --no-fund
	@touch $@

# buf.gen.yaml generates the Python client with Debian's protoc and
# grpc_python_plugin, the TypeScript client with protoc-gen-es from npm.
deps-protoc:
	@bash scripts/require-debian-packages.sh protobuf-compiler protobuf-compiler-grpc
GEN_DEPS := $(TOOL_STAMPS) $(NPM_STAMP) deps-protoc

# The Python test runs Debian's interpreter, /usr/bin/python3, which has
# Debian's gRPC; the first python3 on PATH may be another one.
deps-python:
	@bash scripts/require-debian-packages.sh python3 python3-grpcio python3-protobuf

test-node: build deps-node $(NPM_STAMP) ## Node tests against bin/ssebridge: SSE with npm eventsource, REST vs OpenAPI, the TypeScript client
	node --test clients/node/test/*.test.js

test-python: build deps-python ## the generated Python client against bin/ssebridge, with Debian's python3-grpcio
	PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -B -m unittest discover -s clients/python -p '*_test.py' -v

lint: $(BUF_STAMP) ## gofmt, go vet, buf lint, buf format
	@echo '$(GOFMT) -l (all Go files but gen/ and testdata/)'
	@unformatted=$$(find . \( -path ./.git -o -path ./.tools -o -path ./gen -o -path ./bin \
			-o -name node_modules -o -name testdata \) -prune \
			-o -type f -name '*.go' -print0 | xargs -0 -r '$(GOFMT)' -l); \
	if [ -n "$$unformatted" ]; then \
		echo "not gofmt'd (run gofmt -w on them):" >&2; echo "$$unformatted" >&2; exit 1; \
	fi
	$(GO) vet ./...
	$(BUF) lint
	$(BUF) format -d --exit-code

# The example backend under examples/quotes has its own template and
# generated code, and a descriptor image (imports included, source info
# left out) that `ssebridge serve --descriptors` loads.
EXAMPLE_TEMPLATE := examples/quotes/buf.gen.yaml
EXAMPLE_IMAGE    := examples/quotes/quotes.binpb
EXAMPLE_BUILD    := $(BUF) build examples/quotes/proto --exclude-source-info

generate: $(GEN_DEPS) ## regenerate gen/ from proto/, and the example backend's code and image (buf generate, buf build)
	$(BUF) generate
	$(BUF) generate --template $(EXAMPLE_TEMPLATE)
	$(EXAMPLE_BUILD) -o $(EXAMPLE_IMAGE)

# buf generate -o DIR prepends DIR to the out: paths of buf.gen.yaml, so the
# fresh copy lands in $tmp/gen and clean: true empties $tmp/gen, not gen/.
check-generate: $(GEN_DEPS) ## fail when gen/ or the example backend's code or image is not what the protos generate
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(BUF) generate -o "$$tmp"; \
	if ! diff -r gen "$$tmp/gen" > "$$tmp/diff"; then \
		head -n 100 "$$tmp/diff" >&2; \
		echo "gen/ is stale: run make generate" >&2; exit 1; \
	fi; \
	echo 'gen/ is up to date'; \
	$(BUF) generate --template $(EXAMPLE_TEMPLATE) -o "$$tmp"; \
	if ! diff -r examples/quotes/gen "$$tmp/examples/quotes/gen" > "$$tmp/diff"; then \
		head -n 100 "$$tmp/diff" >&2; \
		echo "examples/quotes/gen/ is stale: run make generate" >&2; exit 1; \
	fi; \
	$(EXAMPLE_BUILD) -o "$$tmp/image.binpb"; \
	if ! cmp -s $(EXAMPLE_IMAGE) "$$tmp/image.binpb"; then \
		echo "$(EXAMPLE_IMAGE) is stale: run make generate" >&2; exit 1; \
	fi; \
	echo 'examples/quotes/gen/ and $(EXAMPLE_IMAGE) are up to date'

fuzz: ## run each fuzz target for FUZZTIME (default 30s) in FUZZ_PKGS (default ./...)
	@GO='$(GO)' bash scripts/fuzz.sh '$(FUZZTIME)' $(FUZZ_PKGS)

# bench takes about 7 minutes: the Go benchmarks, then the load scenarios
# of BENCHMARKS.md (scripts/bench-load.sh), each against a fresh server.
bench: bench-tools ## Go benchmarks matching BENCH, then the load scenarios in SCENARIOS (default all); results in bin/bench/
	$(GO) build -o bin/ssebridge ./cmd/ssebridge
	$(GO) build -o bin/ssebench ./cmd/ssebench
	@mkdir -p bin/bench
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem ./... | tee bin/bench/go-$$(date -u +%Y%m%dT%H%M%SZ).txt
	bash scripts/bench-load.sh $(SCENARIOS)

tools: $(TOOL_STAMPS) ## install the pinned code generation tools into .tools/bin

bench-tools: $(BENCHSTAT_STAMP) ## install benchstat into .tools/bin

clean: ## remove bin/ (keeps .tools/; rm -rf .tools to rebuild the tools)
	rm -rf bin
