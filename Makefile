# capstream — see README.md. `make run` serves the bundled tools in dev mode; `make test` runs every test.

GO       ?= go
BIN      := bin/capstream
PLUGINS  := echo whoami notes fetch slow
WASM_DIR := plugins/wasm
DATA_DIR ?= .capstream
ADDR     ?= 127.0.0.1:8080

GO_PLUGINS := $(PLUGINS:%=$(WASM_DIR)/%.wasm)

.PHONY: all run cluster build plugins mirror-wasm test test-long fuzz test-short bench bench-peers bench-load lint fmt check clean deps

all: build plugins

build:
	$(GO) build -o $(BIN) ./cmd/runtime

# Each bundled Go tool is built for WASI as a reactor (-buildmode=c-shared).
# The hand-written mirror tool is committed assembled, beside its WAT source,
# so that Go alone builds every tool: make mirror-wasm reassembles it with
# wabt's wat2wasm after an edit, and TestMirrorWasmIsAssembledFromWAT checks
# that the two agree.
plugins: $(GO_PLUGINS) $(WASM_DIR)/mirror.wasm

$(WASM_DIR)/%.wasm: plugins/%/*.go sdk/*.go sdk/abi/*.go
	@mkdir -p $(WASM_DIR)
	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build -buildmode=c-shared -o $@ ./plugins/$*

$(WASM_DIR)/mirror.wasm: plugins/mirror/mirror.wasm
	@mkdir -p $(WASM_DIR)
	cp $< $@

mirror-wasm:
	wat2wasm plugins/mirror/mirror.wat -o plugins/mirror/mirror.wasm

run: build plugins
	$(BIN) serve --dev --addr $(ADDR) --plugins $(WASM_DIR) --data-dir $(DATA_DIR)

# A local cluster: three NATS nodes and two replicas (docs/cluster.md).
cluster: plugins
	examples/cluster/cluster.sh

# The API suite runs twice: on memory and bbolt, then on the cluster
# backend (an embedded single-node JetStream, docs/cluster.md).
test: plugins examples/chat/node_modules examples/mcp-clients/node_modules sdk/assemblyscript/node_modules examples/hello-as/node_modules
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./sdk/... ./plugins/...
	$(GO) test -race -count=1 -timeout 30m ./...
	CAPSTREAM_TEST_BACKEND=jetstream $(GO) test -race -count=1 -timeout 30m ./internal/httpapi
	cd examples/hello-tool && $(GO) test -count=1 ./... && GOOS=wasip1 GOARCH=wasm $(GO) vet .
	$(MAKE) -C sdk/assemblyscript test
	$(MAKE) -C sdk/c test
	$(MAKE) -C sdk/rust test
	$(MAKE) -C examples/hello-rust test
	$(MAKE) -C examples/hello-c test
	$(MAKE) -C examples/hello-as test

# The browser test drives Debian's chromium with playwright-core (never a
# browser download of its own).
examples/chat/node_modules: examples/chat/package.json examples/chat/package-lock.json
	npm ci --prefix examples/chat --no-audit --no-fund
	@touch $@

# The AssemblyScript compiler, pinned in the SDK's and the template's
# package-lock.json (sdk/assemblyscript/README.md).
sdk/assemblyscript/node_modules examples/hello-as/node_modules: %/node_modules: %/package.json %/package-lock.json
	npm ci --prefix $* --no-audit --no-fund
	@touch $@

# The MCP client tests run the official TypeScript SDK and client (pinned in
# its package.json); the Inspector and the conformance suite come by npx.
examples/mcp-clients/node_modules: examples/mcp-clients/package.json examples/mcp-clients/package-lock.json
	npm ci --prefix examples/mcp-clients --no-audit --no-fund
	@touch $@

# The long tests (build tag long: 1,000 live streaming calls, SIGTERM under
# that load), then every fuzz target for FUZZTIME each. .ci/run runs this
# after make test.
test-long: plugins
	$(GO) test -tags long -run '^TestLong' -count=1 -timeout 40m ./...
	$(MAKE) fuzz

# Each fuzz target with its corpus in testdata/fuzz, for a bounded time.
FUZZTIME ?= 20s
FUZZ_TARGETS := \
	./stream:FuzzWriterRoundTrip \
	./internal/policy:FuzzParse \
	./internal/auth:FuzzAuthenticate \
	./internal/auth:FuzzTicketsCheck \
	./host:FuzzHostBoundary \
	./internal/kv:FuzzIsolation \
	./internal/egress:FuzzRedact \
	./internal/wasmsnap:FuzzSnapshot \
	./internal/wasmsnap:FuzzLEB128

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

test-short:
	$(GO) test -short ./...

# benchstat runs from its own module (go run pkg@version), so golang.org/x/perf
# stays out of go.mod.
BENCHSTAT ?= $(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

# Every benchmark of the main module into bench.txt, then benchstat's medians
# with 95% confidence intervals: six runs each; the restart benchmark, whose
# every run starts the server anew, three restarts a run.
# BenchmarkIdleSubscribers needs about 11,000 open files per process and skips
# if RLIMIT_NOFILE's hard limit is lower. pipefail: a failed benchmark fails
# the target despite tee.
bench: SHELL := /bin/bash
bench: plugins
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchmem -count 6 -timeout 60m \
		./host/ ./stream/ ./internal/... | tee bench.txt
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchmem -count 6 -benchtime 3x -timeout 30m \
		./cmd/runtime/ | tee -a bench.txt
	$(BENCHSTAT) bench.txt

# Per-call time of capstream vs Extism, each call in a fresh instance
# (bench/peers: a module of its own, so the main module never depends on
# Extism). Builds both echo guests itself; the last line is the speedup.
bench-peers:
	cd bench/peers && $(GO) run .

# Throughput end to end from a process of its own (bench/load): starts
# bin/capstream serve --dev with the bundled tools on a free port, runs 16
# clients of one principal calling echo back to back, streamed, for 10 s
# after 2 s of warm-up, and prints calls/s, latency, CPU and failures by
# kind. Any failed call fails the target. LOAD_FLAGS adds flags
# (go run ./bench/load -help).
LOAD_FLAGS ?=
bench-load: build plugins
	$(GO) run ./bench/load -bin $(BIN) -plugins $(WASM_DIR) -cache-dir $(DATA_DIR)/cache $(LOAD_FLAGS)

lint:
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./sdk/... ./plugins/...
	@test -z "$$(gofmt -l .)" || (gofmt -l . && false)

fmt:
	gofmt -w .

check: fmt
	$(GO) mod tidy
	git diff --exit-code

# Debian packages the tests need: wabt (wat2wasm), chromium, curl, jq. Run as root.
# Debian's packages the tests need: wabt, chromium, curl and jq, and the
# plugin SDKs' toolchains (Rust 1.63 with its wasm32 std and Debian's serde,
# clang with wasi-libc).
DEPS := wabt chromium curl jq rustc cargo libstd-rust-dev-wasm32 lld clang wasi-libc libclang-rt-dev-wasm32 \
	librust-serde-json-dev librust-serde-derive-dev

deps:
	@dpkg -s $(DEPS) >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq $(DEPS))

clean:
	rm -rf bin $(WASM_DIR) bench.txt examples/chat/node_modules examples/chat/testdata/artifacts examples/mcp-clients/node_modules
