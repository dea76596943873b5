# Grafana dashboards, Prometheus recording/alert rules and their tests (issue 8). Included by
# the root Makefile, which defines PYTHON. The files in grafana-dashboards/ are generated from
# tests/dashboards/{panels,slo,generate}.py; Prometheus + promtool are the pinned build of
# tools/go/prometheus (tools/gotool.py, cached like every Go tool).

PYTHON ?= .venv/bin/python
TOOLS_PYTHON ?= python3
PYTEST_DASHBOARDS_ARGS ?=

.PHONY: dashboards dashboards-check prometheus rules-check test-dashboards

dashboards: venv  ## regenerate grafana-dashboards/ (dashboards, rules, rule unit tests)
	$(PYTHON) -m tests.dashboards.generate

dashboards-check: venv  ## fail if grafana-dashboards/ is stale against its generator
	$(PYTHON) -m tests.dashboards.generate --check

prometheus:  ## build the pinned Prometheus + promtool into the tool cache (no-op when warm)
	@$(TOOLS_PYTHON) tools/gotool.py build prometheus promtool

rules-check: prometheus  ## promtool check rules + promtool test rules
	@promtool="$$($(TOOLS_PYTHON) tools/gotool.py path promtool)"; \
		"$$promtool" check rules grafana-dashboards/alerts/*.yaml && \
		cd grafana-dashboards/alerts/tests && "$$promtool" test rules *.yaml

test-dashboards: venv system-deps prometheus collector  ## dashboards/rules: static, promtool, live stack
	$(PYTHON) -m pytest tests/dashboards $(PYTEST_DASHBOARDS_ARGS)
