# OpenTelemetry Collector: a pinned Collector built with the collector builder from
# otel/builder-config.yaml through tools/gotool.py (tools/go/otelcol; see tools/README.md).
# Included by the root Makefile (`include mk/*.mk`), which defines PYTHON.

PYTHON ?= .venv/bin/python
# tools/gotool.py is stdlib-only: building the Collector needs no venv.
TOOLS_PYTHON ?= python3
# Any host:port will do: `validate` checks the configuration, it does not connect.
LGTM_OTLP_ENDPOINT ?= lgtm.observability.svc.cluster.local:4317

.PHONY: collector collector-validate test-otel

collector:  ## build the pinned OpenTelemetry Collector (otelcol) into the tool cache (no-op when warm)
	@$(TOOLS_PYTHON) tools/gotool.py build otelcol

collector-validate: collector  ## otelcol validate the in-cluster config otel/collector.yaml
	@LGTM_OTLP_ENDPOINT=$(LGTM_OTLP_ENDPOINT) "$$($(TOOLS_PYTHON) tools/gotool.py path otelcol)" \
		validate --config=otel/collector.yaml && echo "otel/collector.yaml: valid"

test-otel: venv collector  ## the Collector tests (real Collector, file exporter)
	$(PYTHON) -m pytest tests/otel $(PYTEST_ARGS)
