# pxekit — make targets. See README.md.
#   make demo   boot real firmware (iPXE, OVMF) under QEMU against pxeserver
#   make test   format, vet, staticcheck, race tests (interop included), fuzzing
#   make bench  side-by-side benchmarks, results in bench/RESULTS.md
#   make captures  record the packet captures the tests read (root, QEMU)

GO          ?= go
GOBIN       := $(shell $(GO) env GOPATH)/bin
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(GOBIN)/staticcheck
FUZZTIME    ?= 30000x
TESTTIMEOUT ?= 50m

.PHONY: all test deps fmt-check vet staticcheck unit fuzz bench demo captures build clean

all: build

build:
	$(GO) build ./...

# The README's test command. As root it installs the Debian packages the
# interop tests need; without root those tests skip and say why.
test: deps fmt-check vet staticcheck unit fuzz

deps:
	@bash scripts/install-deps.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	@echo "gofmt: ok"

# contrib/coredhcp/pxeboot is its own module (it needs coredhcp): vetted,
# checked and tested beside the main one.
PLUGIN := contrib/coredhcp/pxeboot

vet:
	$(GO) vet ./...
	cd $(PLUGIN) && $(GO) vet ./...

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	@v=$$($(STATICCHECK) -version 2>/dev/null); case "$$v" in *"($(STATICCHECK_VERSION:v%=%))"*) ;; \
	  *) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION);; esac
	$(STATICCHECK) ./...
	cd $(PLUGIN) && $(STATICCHECK) ./...

# The test run goes through internal/testsummary: plain go test output, then
# every skipped test with its reason and a line "N skipped".
unit:
	@if [ "$$(id -u)" -ne 0 ]; then echo "note: not root: tests that need network namespaces or QEMU will skip"; fi
	@mkdir -p bin && $(GO) build -o bin/testsummary ./internal/testsummary
	bash -o pipefail -c '{ $(GO) test -json -race -count=1 -timeout $(TESTTIMEOUT) ./... 2>&1; main=$$?; \
	  (cd $(PLUGIN) && $(GO) test -json -race -count=1 -timeout $(TESTTIMEOUT) ./... 2>&1); plugin=$$?; \
	  [ $$main -eq 0 ] && [ $$plugin -eq 0 ]; } | bin/testsummary'

fuzz:
	@FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

bench:
	@bash bench/run.sh

demo:
	@bash scripts/demo.sh

captures:
	@bash scripts/captures.sh

clean:
	rm -rf bin bench/out
