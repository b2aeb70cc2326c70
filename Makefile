# tokenwarden developer tasks. `make` (or `make help`) lists the targets.
#
# Targets that need PostgreSQL use $DATABASE_URL when it is set; otherwise they
# start (or reuse) the throwaway local cluster from scripts/pg.sh (.dev/pg), and
# stop it again afterwards if they started it (scripts/with-db.sh).

GO    ?= go
SHELL := /bin/bash

# Prefix of a command that needs a database: $DATABASE_URL if set, else the
# local cluster, stopped at the end if this command started it.
WITH_DB = bash scripts/with-db.sh

.DEFAULT_GOAL := help

.PHONY: help build test screenshots run bench check-deploy db-start db-stop db-status db-url fmt vet lint clean

help: ## List targets
	@echo "Usage: make <target>"
	@echo
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-13s %s\n", $$1, $$2}'

build: ## Build all commands into bin/
	$(GO) build -trimpath -o bin/ ./cmd/...

# The console's browser tests drive headless Chromium: installed first (as
# root, from the Debian package) so that they never find it missing, and
# handed to them as CHROME_PATH.
CHROMIUM = bash scripts/chromium.sh

test: ## go vet + go test -race (installs Chromium if missing; starts the local PostgreSQL unless DATABASE_URL is set, and stops it after)
	@$(CHROMIUM) install
	@CHROME_PATH="$$($(CHROMIUM) path)" $(WITH_DB) bash -c 'set -euo pipefail; \
	echo "DATABASE_URL=$$DATABASE_URL" >&2; \
	echo "+ $(GO) vet ./..." >&2; \
	$(GO) vet ./...; \
	echo "+ $(GO) test -race -count=1 ./..." >&2; \
	$(GO) test -race -count=1 ./...'

screenshots: ## Regenerate docs/img/*.png, the screenshots of docs/console.md, from the console's browser tests
	@$(CHROMIUM) install
	@mkdir -p docs/img
	@CHROME_PATH="$$($(CHROMIUM) path)" TOKENWARDEN_SCREENSHOTS="$(CURDIR)/docs/img" \
		$(WITH_DB) $(GO) test -count=1 ./internal/console/...

run: ## Run the service locally (scripts/dev-run.sh); Ctrl-C or SIGTERM stops it
	@bash scripts/dev-run.sh

check-deploy: ## Build with the Dockerfile's flags and parse the compose, Kubernetes and Grafana files
	bash scripts/check-deploy.sh

bench: ## Run ./cmd/bench against the database
	@$(WITH_DB) $(GO) run ./cmd/bench

db-start: ## Start (or reuse) the local PostgreSQL; prints DATABASE_URL
	@bash scripts/pg.sh start

db-stop: ## Stop the local PostgreSQL
	@bash scripts/pg.sh stop

db-status: ## Show whether the local PostgreSQL is running
	@bash scripts/pg.sh status

db-url: ## Print the local DATABASE_URL
	@bash scripts/pg.sh url

fmt: ## Fail if any Go file is not gofmt'ed
	@files="$$(find . \( -path ./.dev -o -path ./.git -o -path ./bin -o -path ./vendor \) -prune \
		-o -name '*.go' -type f -print | xargs -r gofmt -l)"; \
	if [ -n "$$files" ]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi

vet: ## go vet ./...
	$(GO) vet ./...

lint: fmt vet ## gofmt check, go vet and golangci-lint (.golangci.yml; scripts/lint.sh installs it)
	bash scripts/lint.sh

clean: ## Stop the local PostgreSQL, remove .dev/ (its data, .dev/bin, the demo key) and bin/
	-bash scripts/pg.sh stop
	rm -rf .dev bin
