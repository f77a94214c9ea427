# msw — build, test, run, install.
# Every directory cmd/msw and cmd/msw-* is a command;
# internal/tool/registry lists them again for the test binary, and a test
# keeps the two in step.
CMDS    := $(notdir $(wildcard cmd/msw cmd/msw-*))
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
# without it, which the line below says; so do the completion tests'
# zsh and fish parts.
test: fmt-check vet man-check build
	@if [ -z "$$CHROMIUM" ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null && ! command -v google-chrome >/dev/null && ! command -v google-chrome-stable >/dev/null; then \
		echo "browser tests: Chromium not found, skipped (apt-get install chromium)"; fi
	@for sh in zsh fish; do command -v $$sh >/dev/null || \
		echo "completion tests: $$sh not found, its part skipped (apt-get install $$sh)"; done
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Start the switch in memory on its default address (127.0.0.1:8080).
# Ctrl-C stops it, and it exits 130 as every msw command a signal
# interrupts does; that is how a run ends, not a failure, so make is not
# to report "Error 130". The recipe's shell ignores SIGINT so that it
# lives to see the status (the switch catches SIGINT all the same); make,
# interrupted too, then ends quietly.
run: build
	trap '' INT; ./bin/msw-switch || { s=$$?; [ $$s -eq 130 ] || exit $$s; }

# Every man page renders without a warning (skipped where groff is missing).
man-check:
	@if command -v groff >/dev/null; then \
		for f in man/*.1 man/*.7; do \
			out=$$(groff -man -ww -z $$f 2>&1); \
			if [ -n "$$out" ]; then echo "$$f:"; echo "$$out"; exit 1; fi; \
		done; \
	else echo "man-check: groff not installed, skipped"; fi

# Stripped binaries (built without symbols), the man pages, and the completion scripts where
# bash-completion, zsh and fish look for them: one script each, made by
# 'msw completion' from the commands just built, and linked under every
# command's name for the shells that load completions by command name.
BASHCOMP := $(PREFIX)/share/bash-completion/completions
ZSHCOMP  := $(PREFIX)/share/zsh/site-functions
FISHCOMP := $(PREFIX)/share/fish/vendor_completions.d
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man7 \
		$(DESTDIR)$(BASHCOMP) $(DESTDIR)$(ZSHCOMP) $(DESTDIR)$(FISHCOMP)
	$(GO) build -ldflags '$(LDFLAGS) -s -w' -o $(DESTDIR)$(PREFIX)/bin/ $(addprefix ./cmd/,$(CMDS))
	install -m 0644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 man/*.7 $(DESTDIR)$(PREFIX)/share/man/man7/
	bin/msw completion bash > $(DESTDIR)$(BASHCOMP)/msw
	bin/msw completion zsh > $(DESTDIR)$(ZSHCOMP)/_msw
	bin/msw completion fish > $(DESTDIR)$(FISHCOMP)/msw.fish
	for c in $(filter-out msw,$(CMDS)); do \
		ln -sf msw $(DESTDIR)$(BASHCOMP)/$$c; \
		ln -sf msw.fish $(DESTDIR)$(FISHCOMP)/$$c.fish; \
	done

# Benchmarks against NATS (a module of its own under bench/, so the NATS
# dependencies stay out of msw's). BENCHFLAGS=-quick for a smoke run,
# BENCHFLAGS='-run 1|7' to pick scenarios. It rewrites README.md's
# Performance table from the results. Not a test: nothing asserts a time.
bench:
	cd bench && $(GO) run . -out results.json -readme ../README.md $(BENCHFLAGS)

clean:
	rm -rf bin
