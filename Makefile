# msw — build, test, run, install.
# Every directory cmd/msw-* is a command; internal/tool/registry lists
# them again for the test binary, and a test keeps the two in step.
CMDS    := $(notdir $(wildcard cmd/msw-*))
# The version every command's --version prints: git's description of the
# checkout where there is one, else what the go command records.
VERSION := $(shell git describe --always --dirty 2>/dev/null)
LDFLAGS := $(if $(VERSION),-X msw/internal/version.stamp=$(VERSION))
PREFIX  ?= /usr/local
DESTDIR ?=
GO      ?= go

.PHONY: all build test vet fmt-check run install bench clean man-check

all: build

build:
	@mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ $(addprefix ./cmd/,$(CMDS))

# The one command that checks everything: formatting, vet, every test
# with the race detector, and every tool builds. The web page's browser
# tests need Chromium (CHROMIUM=/path, or chromium on PATH) and skip
# without it, which the line below says.
test: fmt-check vet man-check build
	@if [ -z "$$CHROMIUM" ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null && ! command -v google-chrome >/dev/null && ! command -v google-chrome-stable >/dev/null; then \
		echo "browser tests: Chromium not found, skipped (apt-get install chromium)"; fi
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Start the switch in memory on its default address (127.0.0.1:8080).
run: build
	./bin/msw-switch

# Every man page renders without a warning (skipped where groff is missing).
man-check:
	@if command -v groff >/dev/null; then \
		for f in man/*.1; do \
			out=$$(groff -man -ww -z $$f 2>&1); \
			if [ -n "$$out" ]; then echo "$$f:"; echo "$$out"; exit 1; fi; \
		done; \
	else echo "man-check: groff not installed, skipped"; fi

install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(addprefix bin/,$(CMDS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/

# Benchmarks against NATS (a module of its own under bench/, so the NATS
# dependencies stay out of msw's). BENCHFLAGS=-quick for a smoke run,
# BENCHFLAGS='-run 1|7' to pick scenarios. It rewrites README.md's
# Performance table from the results. Not a test: nothing asserts a time.
bench:
	cd bench && $(GO) run . -out results.json -readme ../README.md $(BENCHFLAGS)

clean:
	rm -rf bin
