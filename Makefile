# edgeauthz — `make help` lists the targets.
GO      ?= go
BIN     := bin/edgeauthz
PKGS    := ./...

.PHONY: help run build test bench fuzz lint e2e deps oracle

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## build bin/edgeauthz
	$(GO) build -o $(BIN) ./cmd/edgeauthz

run: build ## build and serve the bundled example, printing requests to try
	./scripts/run-example.sh

deps: ## install PostgreSQL and nginx for the tests when missing (Debian, root)
	@./scripts/install-deps.sh

test: deps ## all tests, with the race detector
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	cd internal/fgaoracle && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m ./...

e2e: deps ## the end-to-end tests only: real gRPC/HTTP servers, PostgreSQL and nginx on 127.0.0.1
	$(GO) test -race -count=1 ./extauthz/... ./server/... ./sync/... ./deploy/...

bench: build ## Go benchmarks of the decision path, then the load run (bench/README.md; LOADFLAGS=-duration 8s ...)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1s ./decision/... ./cache/... ./identity/... ./extauthz/...
	$(GO) test -run '^$$' -bench 'WriteToDecision|Load1M|ApplyOneChange1M|PostgresFetch1M' -benchmem -benchtime 3x ./sync/
	$(GO) build -o bin/loadtest ./bench/loadtest
	./bin/loadtest -bin $(BIN) $(LOADFLAGS)

fuzz: ## run each fuzz target for a short while (FUZZTIME=30s)
	./scripts/fuzz.sh $${FUZZTIME:-20s}

oracle: ## the OpenFGA differential test for longer (ORACLETIME=5m, or ORACLEFLAGS=-oracle.seed=N)
	cd internal/fgaoracle && $(GO) test -count=1 -timeout 0 -run TestDifferential -v ./... -oracle.time $${ORACLETIME:-5m} $(ORACLEFLAGS)

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)
