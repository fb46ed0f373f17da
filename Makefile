# cxt — 诚薪通 compliance appliance. `make run` and `make test` are all a newcomer needs.

GO        ?= go
BIN       := bin/cxt
DATA      ?= data
TOOLS     := $(HOME)/.cache/cxt/tools
MINIO_VER := v0.0.0-20260212201848-7aac2a2c5b7c
MINIO     := $(TOOLS)/minio-7aac2a2c5b7c/minio
TEST_TIMEOUT ?= 20m
LONG      ?= 60s
# What "cxt version" prints; a plain go build falls back to Go's build info.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT    ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X cxt/appliance/version.version=$(VERSION) -X cxt/appliance/version.commit=$(COMMIT)

export CXT_MINIO_BIN := $(MINIO)

.PHONY: all build run demo test test-short bench check-long lint minio deps clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./appliance/cmd/cxt

# Build, create ./data on first run, serve it, and say what to do next.
# The tax bureaus' gateway listens beside the API, with a certificate of its own.
GATEWAY ?= 127.0.0.1:8444
run: build
	@if [ ! -f $(DATA)/node.json ]; then $(BIN) init --data $(DATA) --gateway-listen $(GATEWAY); fi
	@echo
	@echo "  The node serves https://127.0.0.1:8443 with its own certificate, $(DATA)/api.pem."
	@echo "  The tax bureaus' gateway: https://$(GATEWAY) (its certificate: $(DATA)/gateway.pem; docs/gateway.md)"
	@echo "  Check it:   curl --cacert $(DATA)/api.pem https://127.0.0.1:8443/healthz"
	@echo "  Log in:     curl --cacert $(DATA)/api.pem -H 'Content-Type: application/json' \\"
	@echo "                -d '{\"username\":\"auditadmin\",\"password\":\"<its one-time password>\"}' \\"
	@echo "                https://127.0.0.1:8443/api/v1/sessions"
	@echo "              (init printed the three administrators' one-time passwords once; see docs/security.md)"
	@echo "  Status:     $(BIN) status --data $(DATA)"
	@echo "  Stop it with Ctrl-C; start it again with make run (the data stays in $(DATA))."
	@echo
	$(BIN) serve --data $(DATA) --gateway-listen $(GATEWAY)

# A demo node filled through the API with the documented world (merchants,
# platform staff, …): DEMO/demo/world.json holds every account and ID.
DEMO ?= demo-data
demo: build
	$(BIN) demo --data $(DEMO)

# Everything: lint, then every test with the real servers they need (MinIO,
# OpenSSL), which this target installs itself.
test: deps lint
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./... 2>&1 | ops/ci/summarize

# The MinIO server, built from source by go install into the tool cache
# (about 4 minutes the first time on 2 cores, then cached).
minio: $(MINIO)
$(MINIO):
	@echo "building MinIO $(MINIO_VER) into $(dir $(MINIO)) (first time only)..."
	GOBIN=$(dir $(MINIO)) GOFLAGS= $(GO) install github.com/minio/minio@$(MINIO_VER)

# OpenSSL 3 for the SM2/SM3/SM4 interop tests, Python 3 for the gateway's
# verifier script; the contract fonts and poppler.
deps: minio
	@command -v openssl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq openssl; }
	@openssl version | grep -q '^OpenSSL 3' || { echo "OpenSSL 3 is required for the interop tests"; exit 1; }
	@# docs/gateway-verify.py, the bureaus' dozen-line verifier, runs in the gateway's tests.
	@command -v python3 >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3-minimal; }
	@# Contracts are set in Droid Sans Fallback (CJK) and DejaVu Sans (Latin), both
	@# licensed for embedding; poppler's pdftotext, pdffonts and pdftoppm check the PDFs.
	@test -f /usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf \
	  && test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
	  && command -v pdftotext >/dev/null 2>&1 && command -v pdffonts >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1 \
	  || { apt-get update -qq && apt-get install -y -qq fonts-droid-fallback fonts-dejavu-core poppler-utils; }

lint:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Throughput of the replicated store against raw bbolt, written to
# docs/performance.md, then the micro-benchmarks.
bench: deps
	$(GO) run ./ops/bench -duration 5s
	@{ printf '\n## Micro-benchmarks\n\n`go test -bench` (SM4-GCM, documents, tax engine, OPA decision):\n\n```\n'; \
	  $(GO) test -run '^$$' -bench . -benchtime 2s ./crypto/... ./storage/state/... ./appliance/tax/... ./policy/... | grep '^Benchmark'; \
	  printf '```\n'; } | tee -a docs/performance.md

# Long runs, bounded: every fuzz target for $(LONG), then the race detector
# over the whole suite.
check-long: deps
	ops/ci/fuzz-all $(LONG)
	$(GO) test -race -count=1 -timeout 60m ./... 2>&1 | ops/ci/summarize

clean:
	rm -rf bin
