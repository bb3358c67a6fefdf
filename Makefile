# The project's everyday tasks. `make` alone lists them.

.DEFAULT_GOAL := help

# golangci-lint at the version its own module pins (internal/tools/lint), so
# that the linter's dependencies stay out of lro.dev/lro's module graph.
GOLANGCI_LINT := go tool -modfile=$(CURDIR)/internal/tools/lint/go.mod golangci-lint

.PHONY: help
help: ## List the targets
	@awk -F ':.*## ' '/^[a-z][a-z-]*:.*## / { printf "  %-10s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

.PHONY: test
test: ## Run the tests with the race detector (PostgreSQL ones need LRO_TEST_POSTGRES)
	go test -race ./...

.PHONY: lint
lint: ## Lint the module and the benchmark's module (.golangci.yaml)
	$(GOLANGCI_LINT) run ./...
	cd bench && $(GOLANGCI_LINT) run ./...

.PHONY: generate
generate: ## Regenerate lropb/ from proto/ (needs protoc)
	./proto/gen.sh

.PHONY: verify
verify: generate ## Fail if lropb/, go.mod or go.sum are not what generate and go mod tidy make
	go mod tidy
	git diff --exit-code -- lropb go.mod go.sum
	@untracked=$$(git ls-files --others --exclude-standard -- lropb); \
	if [ -n "$$untracked" ]; then echo "verify: new files in lropb/: $$untracked" >&2; exit 1; fi
