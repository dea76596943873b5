"""Traces and logs of the operator process.

- Traces: one span per dependency check (``dependency.check``), exported over OTLP/HTTP
  when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set. The SDK is configured here, once, and not at
  all when something else (``opentelemetry-instrument``, the OTel Operator's injection)
  already installed a tracer provider: no double export.
- Logs: kopf's JSON formatter on the root logger, plus ``traceId``/``spanId`` of the active
  span, the same correlation keys as the app's logs.
"""

from __future__ import annotations

import logging
import os

import kopf
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

SERVICE_NAME = "orderflow-operator"
TRACER = trace.get_tracer("orderflow_operator")


def setup_tracing() -> bool:
    """Install the SDK exporter if wanted and not done elsewhere; True if installed."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") and not os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        return False
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return False
    resource = Resource.create({"service.name": SERVICE_NAME}).merge(
        OTELResourceDetector().detect()
    )
    provider = TracerProvider(resource=resource)
    # The exporter reads the endpoint, headers and protocol options from the standard env.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if callable(shutdown):
        shutdown()


class TraceContextFilter(logging.Filter):
    """Adds the active span's ids to every record (JSON formatters print extra fields)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            record.traceId = format(ctx.trace_id, "032x")
            record.spanId = format(ctx.span_id, "016x")
        return True


def setup_logging(*, verbose: bool = False, json_logs: bool = True) -> None:
    kopf.configure(
        verbose=verbose, log_format=kopf.LogFormat.JSON if json_logs else kopf.LogFormat.FULL
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(TraceContextFilter())
    # httpx logs every request at INFO: one line per check and API call is noise. httpcore
    # logs hosts and ports at DEBUG (with --verbose): an address from a Secret would be
    # written out, so both stay at WARNING whatever the verbosity.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
