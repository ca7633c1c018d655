# Inbox Health — make targets. `make run` and `make test` are the two you need.
GO          ?= go
BIN         := bin/web
PKGS        := ./...
FUZZTIME    ?= 30s

.PHONY: run build test test-postgres generate check-generated lint fuzz bench soak release clean tidy

VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT      ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
PLATFORMS   := linux/amd64 linux/arm64

## run: build and start demo mode (built-in Graph API simulator, seeded data)
run: build
	./$(BIN) demo

## build: compile the single binary into bin/web
build: generate
	$(GO) build -o $(BIN) ./cmd/web

## generate: regenerate templ components (generated files are committed); warnings
## and errors only, so `make run` does not print templ's watch-mode notices
generate:
	$(GO) tool templ generate -path internal/views -log-level warn

## test: stale-generated-code check, lint, then every test (browser tests included).
## -timeout: go test's 10-minute default is per package; cmd/web's and handlers' race
## runs pass it on a busy 2-core machine although no test hangs (CI allows 90 minutes).
test: check-generated lint
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

## test-postgres: the packages above the store once more, on PostgreSQL (TEST_ENGINE=postgres;
## needs TEST_DATABASE_URL, e.g. eval "$$(.ci/pg-cluster start /tmp/pg)"). `make test` runs
## the store tests and the two-instance test on both engines already.
PG_PKGS     := ./internal/handlers/... ./internal/alerts/... ./internal/whatsapp/health/...
test-postgres:
	@test -n "$$TEST_DATABASE_URL" || { echo "test-postgres: set TEST_DATABASE_URL (eval \"\$$(.ci/pg-cluster start /tmp/pg)\")"; exit 1; }
	TEST_ENGINE=postgres $(GO) test -race -count=1 -timeout 30m $(PG_PKGS)

## check-generated: fail when committed *_templ.go files do not match the .templ sources
check-generated:
	@tmp=$$(mktemp -d) && cp -r internal/views/. $$tmp/ && \
	$(GO) tool templ generate -path $$tmp >/dev/null 2>&1 && \
	for f in internal/views/*_templ.go; do \
		if ! cmp -s $$f $$tmp/$$(basename $$f); then echo "stale generated file: $$f (run make generate)"; rm -rf $$tmp; exit 1; fi; \
	done; \
	for f in $$tmp/*_templ.go; do \
		if [ ! -f internal/views/$$(basename $$f) ]; then echo "missing generated file: internal/views/$$(basename $$f) (run make generate)"; rm -rf $$tmp; exit 1; fi; \
	done; rm -rf $$tmp; echo "generated templ code is up to date"

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l cmd internal migrations static); if [ -n "$$out" ]; then echo "not gofmt-ed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

## bench: benchmarks side by side with their baselines; writes docs/BENCHMARKS.md
## (the PostgreSQL row uses TEST_DATABASE_URL, or a throwaway cluster when PostgreSQL is installed)
bench:
	@if [ -z "$$TEST_DATABASE_URL" ] && { ls /usr/lib/postgresql/*/bin/initdb || command -v initdb; } >/dev/null 2>&1; then \
		dir=$$(mktemp -d /tmp/inboxhealth-pg.XXXXXX) && trap '.ci/pg-cluster stop "$$dir"' EXIT && \
		eval "$$(.ci/pg-cluster start "$$dir")"; \
	fi; $(GO) run ./internal/bench/cmd/benchreport -out docs/BENCHMARKS.md

## soak: 60 s of mixed load against the real binary
soak: build
	SOAK=1 $(GO) test -count=1 -run TestSoak -timeout 10m ./cmd/web

## release: static binaries for every PLATFORMS into dist/, version and commit stamped in (web version)
release: generate
	@rm -rf dist && mkdir -p dist
	@for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=dist/web-$$os-$$arch; \
		echo "building $$out ($(VERSION))"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath \
			-ldflags "-s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o $$out ./cmd/web || exit 1; \
	done
	@cd dist && sha256sum web-* > SHA256SUMS && cat SHA256SUMS

tidy:
	$(GO) mod tidy

clean:
	rm -rf bin dist data/demo.db data/demo.db-wal data/demo.db-shm
