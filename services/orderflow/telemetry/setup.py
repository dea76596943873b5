"""Configure the OpenTelemetry SDK once per process, or not at all.

* ``OTEL_SDK_DISABLED=true``: nothing is configured; the API stays a no-op.
* Already configured (``opentelemetry-instrument``, or the OpenTelemetry Operator's injection):
  the providers, exporters and auto-instrumentations are theirs (ours for Dramatiq included:
  an entry point, see ``orderflow.telemetry.dramatiq``). We add only what zero-code cannot do
  (the Litestar server span, the cache-only Redis client), so the trace shape is the same
  either way and nothing is exported twice.
* Otherwise: providers from the standard ``OTEL_*`` variables (service name, resource
  attributes, sampler), OTLP export when an endpoint is configured (gRPC or HTTP, by
  ``OTEL_EXPORTER_OTLP_PROTOCOL``: see ``otlp``), and the Prometheus bridge for scraping in
  every case.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from opentelemetry import metrics, trace
from opentelemetry._logs import get_logger_provider, set_logger_provider
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy.engine import Engine

import orderflow
from orderflow.telemetry import pool_usage
from orderflow.telemetry.logs import DropStructlogInternals
from orderflow.telemetry.otlp import otlp_exporters
from orderflow.telemetry.prometheus import PrometheusBridgeReader

log = logging.getLogger(__name__)

_BATCH_DEFAULTS = {
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64",
    "OTEL_BSP_SCHEDULE_DELAY": "200",
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "64",
    "OTEL_BLRP_SCHEDULE_DELAY": "200",
}
_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


@dataclass(frozen=True)
class Telemetry:
    enabled: bool
    """An SDK is active in this process (ours or zero-code's)."""
    owned: bool
    """We configured it (and so must flush it on shutdown)."""

    def shutdown(self) -> None:
        if not self.owned:
            return
        for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
            shutdown = getattr(provider, "shutdown", None)
            if shutdown is not None:
                shutdown()
        logs = get_logger_provider()
        if hasattr(logs, "shutdown"):
            logs.shutdown()


def _sdk_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def _exporting() -> bool:
    return any(os.environ.get(name) for name in _ENDPOINT_VARIABLES)


def _resource(default_service_name: str, environment: str) -> Resource:
    attributes = {
        "service.version": orderflow.__version__,
        "deployment.environment.name": environment,
    }
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = default_service_name
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME (which win).
    return Resource.create(attributes)


def configure_telemetry(default_service_name: str, environment: str) -> Telemetry:
    if _sdk_disabled():
        return Telemetry(enabled=False, owned=False)
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        log.info("telemetry: SDK configured by zero-code instrumentation; not configuring again")
        _instrument_libraries()
        return Telemetry(enabled=True, owned=False)

    # Smaller, more frequent export batches (unless set): the exporter thread encodes a batch
    # in Python, holding the GIL against the event loop while it does. Batches of 512 cost
    # 2-5% less CPU per request than 64 (fewer gRPC calls) and ~2 ms more open-loop p99 on the
    # cached read; 64 every 200 ms keeps the p99 (bench/README.md, "Round of 2026-12-03, late").
    for name, value in _BATCH_DEFAULTS.items():
        os.environ.setdefault(name, value)
    resource = _resource(default_service_name, environment)
    tracer_provider = TracerProvider(resource=resource)  # sampler from OTEL_TRACES_SAMPLER
    readers: list[object] = [PrometheusBridgeReader()]
    if _exporting():
        exporters = otlp_exporters()
        tracer_provider.add_span_processor(BatchSpanProcessor(exporters.spans))
        readers.append(PeriodicExportingMetricReader(exporters.metrics))
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(exporters.logs))
        set_logger_provider(logger_provider)
        # The one OTLP path for logs: every structlog line reaches the root logger once.
        otlp_handler = LoggingHandler(logger_provider=logger_provider)
        otlp_handler.addFilter(DropStructlogInternals())
        logging.getLogger().addHandler(otlp_handler)
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))  # type: ignore[arg-type]
    _instrument_libraries()
    return Telemetry(enabled=True, owned=True)


def _instrument_libraries() -> None:
    # Before any engine exists: every engine of the process (API, relay, actors) gets the same
    # per-query spans. One instrumentation only: asyncpg's would duplicate every query.
    instrumentor = SQLAlchemyInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(enable_commenter=False)
    # It also opens a `connect` CLIENT span at every pool checkout (ours or zero-code's): not a
    # query, one per request, ~15% of a traced read's CPU. One span per statement is what stays.
    unwrap(Engine, "connect")
    # Its connection-pool gauge, from the pools at collection time (same metric, no per-request
    # measurements).
    pool_usage.install()
