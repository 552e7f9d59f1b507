# edgeauthz — `make help` lists the targets.
GO      ?= go
BIN     := bin/edgeauthz
PKGS    := ./...
# The image is ghcr.io/edgeauthz/edgeauthz:$(VERSION), the name and tag the Kubernetes
# manifests and the Helm chart use (deploy/deploy_test.go holds them together).
VERSION ?= 0.1.0
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)

# helm for the chart's tests (deploy/helm_test.go), built from its pinned Go module into
# bin/tools with the version stamps its own release build sets (v3.22.0 is built against
# Kubernetes 1.37 client libraries).
HELM_VERSION := v3.22.0
HELM_LDFLAGS := -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37 \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37

.PHONY: help run build test bench fuzz lint e2e deps image tools oracle

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## build bin/edgeauthz
	$(GO) build -o $(BIN) ./cmd/edgeauthz

image: ## write the container image bin/edgeauthz-image.tar (docker load -i …); no daemon needed
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" \
		-o bin/edgeauthz-linux-$(IMAGE_ARCH) ./cmd/edgeauthz
	$(GO) run ./internal/imagebuild/cmd/imagebuild -bin bin/edgeauthz-linux-$(IMAGE_ARCH) -arch $(IMAGE_ARCH) \
		-version $(VERSION) -out bin/edgeauthz-image.tar

run: build ## build and serve the bundled example, printing requests to try
	./scripts/run-example.sh

deps: tools ## install PostgreSQL, nginx and Caddy for the tests when missing (Debian, root)
	@./scripts/install-deps.sh

tools: ## install the pinned helm into bin/tools when missing
	@test "$$(bin/tools/helm version --template '{{.Version}}' 2>/dev/null)" = "$(HELM_VERSION)" || \
		GOBIN=$(CURDIR)/bin/tools $(GO) install -ldflags "$(HELM_LDFLAGS)" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

test: deps lint ## all tests, with the race detector, after the linters; then the OpenFGA differential test
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	# The race detector drops sync.Pool items and so changes allocation
	# counts: the zero-allocation tests run again without it.
	$(GO) test -count=1 -run 'Alloc|DoesNotAllocate|WarmPath' ./decision/... ./extauthz/... ./cache/... ./identity/... ./authzen/... ./authn/...
	cd internal/fgaoracle && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m ./...

e2e: deps ## the end-to-end tests only: real gRPC/HTTP servers, PostgreSQL, nginx and Caddy on 127.0.0.1
	$(GO) test -race -count=1 ./extauthz/... ./server/... ./sync/... ./deploy/...

bench: build ## Go benchmarks of the decision path, then the load run (bench/README.md; LOADFLAGS=-duration 8s ...)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1s ./decision/... ./cache/... ./identity/... ./extauthz/... ./authzen/...
	$(GO) test -run '^$$' -bench 'WriteToDecision|Load1M|ApplyOneChange1M|PostgresFetch1M' -benchmem -benchtime 3x ./sync/
	EDGEAUTHZ_BIN=$(abspath $(BIN)) $(GO) test -run '^$$' -bench 'Fanout1000Edges' -benchtime 20x ./relay/
	EDGEAUTHZ_BIN=$(abspath $(BIN)) $(GO) test -run '^$$' -bench 'Bootstrap1M' -benchmem -benchtime 1x ./relay/
	$(GO) test -run '^$$' -bench 'GRPCCheckTransport' -benchmem -benchtime 1s ./server/
	$(GO) build -o bin/loadtest ./bench/loadtest
	./bin/loadtest -bin $(BIN) $(LOADFLAGS)

fuzz: ## run each fuzz target for a short while (FUZZTIME=30s)
	./scripts/fuzz.sh $${FUZZTIME:-20s}

oracle: ## the OpenFGA differential test for longer (ORACLETIME=5m, or ORACLEFLAGS=-oracle.seed=N)
	cd internal/fgaoracle && $(GO) test -count=1 -timeout 0 -run TestDifferential -v ./... -oracle.random 1000000000 -oracle.budget $${ORACLETIME:-5m} $(ORACLEFLAGS)

STATICCHECK_VERSION := v0.8.2
STATICCHECK := bin/tools/staticcheck-$(STATICCHECK_VERSION)

$(STATICCHECK):
	mkdir -p bin/tools
	GOBIN=$(CURDIR)/bin/tools $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv bin/tools/staticcheck $@

lint: $(STATICCHECK) ## gofmt, go vet and staticcheck (pinned); fails on any finding
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)
