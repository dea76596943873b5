# Grafana dashboards, Prometheus recording/alert rules and their tests. Included by
# the root Makefile, which defines PYTHON. The generator is the orderflow_dashboards package
# (grafana-dashboards/, a uv workspace member); it writes the files once, where Helm packages
# them: charts/orderflow/files/grafana-dashboards/*.json and files/prometheus-rules/*.yaml.
# Prometheus + promtool are the pinned build of tools/go/prometheus (tools/gotool.py, cached
# like every Go tool).

PYTHON ?= .venv/bin/python
TOOLS_PYTHON ?= python3
PYTEST_DASHBOARDS_ARGS ?=

.PHONY: dashboards dashboards-check prometheus rules-check test-dashboards test-dashboards-shipped

dashboards: venv  ## regenerate the chart's dashboards and rules (charts/orderflow/files/)
	$(PYTHON) -m orderflow_dashboards

dashboards-check: venv  ## fail if the chart's dashboards or rules are stale against the generator
	$(PYTHON) -m orderflow_dashboards --check

prometheus:  ## build the pinned Prometheus + promtool into the tool cache (no-op when warm)
	@$(TOOLS_PYTHON) tools/gotool.py build prometheus promtool

# The rule unit tests are derived from the rules at test time (tests/dashboards/rule_tests.py).
rules-check: venv prometheus  ## promtool check rules + promtool test rules (the chart's rules)
	$(PYTHON) -m pytest tests/dashboards/test_promtool.py $(PYTEST_DASHBOARDS_ARGS)

test-dashboards: venv system-deps prometheus collector  ## dashboards/rules: static, promtool, live stack (fast setting and shipped settings)
	$(PYTHON) -m pytest tests/dashboards $(PYTEST_DASHBOARDS_ARGS)

# Only the shipped-settings run (settings read from the rendered chart, OTLP path as shipped).
test-dashboards-shipped: venv system-deps prometheus collector  ## every panel/rule at the chart's shipped intervals (~5 min)
	$(PYTHON) -m pytest tests/dashboards/test_shipped.py $(PYTEST_DASHBOARDS_ARGS)
