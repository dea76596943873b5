# orderflow — every entry point a developer or CI needs. `make help` lists them.
#
# Set-up is part of the targets: system packages (PostgreSQL, Redis) come from Debian's
# packages, Python packages from uv.lock, Go tools from tools/ (pinned, cached in
# $(ORDERFLOW_CACHE)); each step is skipped when already done.

SHELL := /bin/bash
.DEFAULT_GOAL := help

export ORDERFLOW_CACHE ?= $(HOME)/.cache/orderflow
UV_VERSION := 0.13.8
BOOTSTRAP := $(ORDERFLOW_CACHE)/bootstrap-uv-$(UV_VERSION)
UV := $(BOOTSTRAP)/bin/uv
PYTHON := .venv/bin/python
# uv verifies TLS with the system's CA store (this is how the machine's registries are trusted).
export UV_SYSTEM_CERTS := 1
export UV_CACHE_DIR ?= $(ORDERFLOW_CACHE)/uv
SYSTEM_PACKAGES := postgresql-15 redis-server
PYTEST_ARGS ?=

include mk/*.mk

.PHONY: help system-deps venv lint fmt test test-unit test-domain test-integration fuzz dev bench clean

help:  ## list targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-18s %s\n", $$1, $$2}'

system-deps:  ## install PostgreSQL and Redis server binaries from Debian's packages (once)
	@if [ -x /usr/lib/postgresql/15/bin/postgres ] && command -v redis-server >/dev/null; then \
		exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "system-deps: need root to apt-get install $(SYSTEM_PACKAGES)"; exit 1; fi; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $(SYSTEM_PACKAGES) >/dev/null
	@# Debian's packages start their own servers where an init system runs; ours are throwaway.
	-@service redis-server stop >/dev/null 2>&1 || true

$(UV):
	python3 -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/pip install --quiet uv==$(UV_VERSION)

# --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (as on CI machines) nothing is ever
# cached, and every process the tests start would compile its imports again (20-60 s per
# start on a loaded 2-core machine instead of 2-3 s).
.venv/.synced: $(UV) pyproject.toml uv.lock operator/pyproject.toml grafana-dashboards/pyproject.toml
	$(UV) sync --frozen --compile-bytecode
	@touch $@

venv: .venv/.synced  ## create/refresh the virtualenv from uv.lock

lint: venv  ## ruff (lint + format check) and mypy --strict
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy services operator grafana-dashboards tests tools k8s bench

fmt: venv  ## apply ruff fixes and formatting
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format .

test-unit: venv  ## fast tests of pure logic
	$(PYTHON) -m pytest tests/unit $(PYTEST_ARGS)

test-domain: venv system-deps  ## the domain services in-process on real PostgreSQL and Redis (seconds)
	$(PYTHON) -m pytest tests/domain $(PYTEST_ARGS)

test-integration: venv system-deps  ## real API + worker on real PostgreSQL and Redis
	$(PYTHON) -m pytest tests/integration $(PYTEST_ARGS)

fuzz: venv system-deps  ## schemathesis against the real API: many more examples, a fresh seed
	ORDERFLOW_FUZZ_EXAMPLES=$${ORDERFLOW_FUZZ_EXAMPLES:-500} ORDERFLOW_FUZZ_SEED=$${ORDERFLOW_FUZZ_SEED:-random} \
		$(PYTHON) -m pytest tests/integration/test_openapi_fuzz.py -s $(PYTEST_ARGS)

# The real node's tools (tests/testbed/provider.py: real-node-tools) build in the background,
# at low priority, while the first suites run on one core: on a cold machine that takes their
# ~25 min off the critical path; when warm it is a no-op. A test that needs one waits for it
# on gotool's build lock instead of building it twice.
test: lint venv system-deps test-tools  ## the whole suite (what CI runs)
	@late=$$($(PYTHON) -m tests.testbed.provider real-node-tools $(PYTEST_ARGS)); \
	if [ -n "$$late" ]; then \
		nice -n 10 $(TOOLS_PYTHON) tools/gotool.py build $$late \
			>"$(ORDERFLOW_CACHE)/real-node-tools.log" 2>&1 & \
	fi; \
	$(PYTHON) -m pytest tests $(PYTEST_ARGS); rc=$$?; wait; exit $$rc

dev: venv system-deps  ## run the whole product locally (no cluster, no Docker); Ctrl-C stops it
	$(PYTHON) -m orderflow.cli dev

clean:  ## remove local caches of this checkout (not the shared tool cache)
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache .dev
