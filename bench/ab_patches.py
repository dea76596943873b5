"""Candidate product changes, applied as monkeypatches by ``bench.ab`` (never in services/).

Each variant is a function run in the API process before ``orderflow api`` starts; a variant
measures what the change would buy, the lead decides whether and how it goes into the product.
Some are *attribution* variants (``no-*``) that switch a telemetry feature off only to measure
what it costs; they are not proposals.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext import asyncio as sa_asyncio


def _engine_options(**options: Any) -> None:
    """Re-create the product's engine with different options (orderflow.db.engine). The
    defaults mirror the product as of 556cf15 (no pre-ping, recycling after 30 min)."""
    import orderflow.db.engine as engine_module  # noqa: PLC0415 - patched at start-up
    import orderflow.resources as resources_module  # noqa: PLC0415

    def make_engine(settings: Any) -> Any:
        return sa_asyncio.create_async_engine(
            settings.url,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            connect_args={"server_settings": {"application_name": "orderflow"}},
            **{"pool_pre_ping": False, "pool_recycle": 1800, **options},
        )

    engine_module.make_engine = make_engine
    resources_module.make_engine = make_engine  # type: ignore[attr-defined]


def baseline() -> None:
    """The product as it is."""


def no_pre_ping() -> None:
    """``pool_pre_ping=False`` (the product's choice since 556cf15; measured against
    ``pre-ping``, its former setting: BEGIN/";"/ROLLBACK at every checkout)."""
    _engine_options(pool_pre_ping=False)


def pre_ping() -> None:
    """``pool_pre_ping=True``: the product before 556cf15."""
    _engine_options(pool_pre_ping=True)


def autocommit() -> None:
    """Reads outside a transaction: no BEGIN/ROLLBACK round trips (unsafe for writes as a
    global setting: measures what a read-only session factory would buy)."""
    _engine_options(isolation_level="AUTOCOMMIT")


def lean_reads() -> None:
    """``no_pre_ping`` + ``autocommit``: one round trip per read, like raw asyncpg."""
    _engine_options(pool_pre_ping=False, isolation_level="AUTOCOMMIT")


def pool20() -> None:
    """``DATABASE_POOL_SIZE=20 DATABASE_MAX_OVERFLOW=0`` (configuration only): the same 20
    connections at most, but kept. With 10 + 10 overflow, every dip in concurrency closes
    overflow connections and the next burst reconnects (TCP + SCRAM auth + asyncpg's type
    introspection) on the request path."""
    os.environ["DATABASE_POOL_SIZE"] = "20"
    os.environ["DATABASE_MAX_OVERFLOW"] = "0"


def lean_reads_pool20() -> None:
    """``lean_reads`` + ``pool20``."""
    lean_reads()
    pool20()


def sequential_deps() -> None:
    """Resolve each batch of Litestar dependencies one by one instead of in an anyio task group
    (Litestar spawns one whenever a level of the dependency graph has more than one provider:
    ``db_session``, ``cache`` and ``tokens`` for most handlers). The product equivalent is a
    dependency graph with one provider per level (e.g. ``cache``/``tokens`` read from
    ``app.state`` inside the services, or one bundled dependency)."""
    from litestar._kwargs.cleanup import DependencyCleanupGroup  # noqa: PLC0415
    from litestar._kwargs.dependencies import resolve_dependency  # noqa: PLC0415
    from litestar._kwargs.kwargs_model import KwargsModel  # noqa: PLC0415

    async def resolve_dependencies(
        self: KwargsModel, connection: Any, kwargs: dict[str, Any]
    ) -> DependencyCleanupGroup:
        cleanup_group = DependencyCleanupGroup()
        for batch in self.dependency_batches:
            for dependency in batch:
                await resolve_dependency(dependency, connection, kwargs, cleanup_group)
        return cleanup_group

    KwargsModel.resolve_dependencies = resolve_dependencies  # type: ignore[method-assign]


def lean() -> None:
    """``lean_reads`` + ``pool20`` + ``sequential_deps``."""
    lean_reads()
    pool20()
    sequential_deps()


def no_connect_span() -> None:
    """SQLAlchemy's instrumentation wraps ``Engine.connect`` and opens a ``connect`` CLIENT
    span at every pool checkout, i.e. one per request that touches the database, on top of
    the query spans. Candidate: unwrap it after instrumenting (query spans unchanged)."""
    import sqlalchemy.engine.base  # noqa: PLC0415
    from opentelemetry.instrumentation.utils import unwrap  # noqa: PLC0415

    from orderflow.telemetry import setup  # noqa: PLC0415

    original = setup._instrument_libraries

    def instrument() -> None:
        original()
        unwrap(sqlalchemy.engine.base.Engine, "connect")

    setup._instrument_libraries = instrument


def no_sqlalchemy_spans() -> None:
    """Attribution only: the SQLAlchemy instrumentation off."""
    from orderflow.telemetry import setup  # noqa: PLC0415

    setup._instrument_libraries = lambda: None


def _leave_client(client: Any) -> None:
    """Stands in for a function that would instrument ``client``."""
    del client


def no_redis_spans() -> None:
    """Attribution only: the cache client's Redis instrumentation off."""
    import orderflow.resources as resources_module  # noqa: PLC0415

    resources_module.instrument_cache_client = _leave_client  # type: ignore[attr-defined]


def no_otlp_logs() -> None:
    """Attribution only: no OTLP log export (structlog to stdout stays)."""
    from orderflow.telemetry import setup  # noqa: PLC0415

    def null_handler(**_options: Any) -> logging.Handler:
        return logging.NullHandler()

    setup.LoggingHandler = null_handler  # type: ignore[attr-defined,assignment]


def no_prometheus_bridge() -> None:
    """Attribution only: the OTLP metric reader alone (every synchronous measurement is
    aggregated once per reader; ``/metrics`` is then empty)."""
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415

    from orderflow.telemetry import prometheus, setup  # noqa: PLC0415

    def without_bridge(*, metric_readers: list[Any], **options: Any) -> MeterProvider:
        readers = [
            r for r in metric_readers if not isinstance(r, prometheus.PrometheusBridgeReader)
        ]
        return MeterProvider(metric_readers=readers, **options)

    setup.MeterProvider = without_bridge  # type: ignore[attr-defined,assignment]


def sdk_counters() -> None:
    """The cache's hit/miss counts as SDK ``Counter.add`` calls (the product before they became
    tallies, ``orderflow.telemetry.tally``): one synchronous measurement per cached read, into
    every metric reader. Under other names, so both instruments can exist side by side."""
    from orderflow import cache  # noqa: PLC0415
    from orderflow.domain.telemetry import meter  # noqa: PLC0415

    class SdkCounter:
        def __init__(self, name: str) -> None:
            self._counter = meter.create_counter(name, unit="{lookup}")

        def add(self, key: tuple[tuple[str, Any], ...], value: int = 1) -> None:
            self._counter.add(value, dict(key))

    cache._hits = SdkCounter("bench.cache.hits")  # type: ignore[assignment]
    cache._misses = SdkCounter("bench.cache.misses")  # type: ignore[assignment]


def upstream_redis_spans() -> None:
    """Every cache command traced by the upstream Redis instrumentation alone (the product
    before ``orderflow.telemetry.redis_commands``): the same spans, built its way."""
    from orderflow.telemetry import clients  # noqa: PLC0415

    clients.trace_commands = _leave_client  # type: ignore[attr-defined,assignment]


def no_gc_tuning() -> None:
    """The interpreter's default collector settings (the product before
    ``orderflow.gc_tuning``): no frozen start-up heap, young threshold 700."""
    from orderflow import gc_tuning  # noqa: PLC0415

    gc_tuning.settle_startup_heap = lambda: None


def before_hot_path() -> None:
    """The product before this round's hot-path changes, all three at once: upstream Redis
    command spans, SDK cache counters, default collector settings."""
    upstream_redis_spans()
    sdk_counters()
    no_gc_tuning()


def no_span_export() -> None:
    """Attribution only: spans created, ended and queued as usual, the exporter returns at
    once (no encoding, no gRPC call): what export costs on top of the SDK's span work."""
    from opentelemetry.sdk.trace.export import SpanExportResult  # noqa: PLC0415

    from orderflow.telemetry import setup  # noqa: PLC0415

    original = setup.otlp_exporters  # type: ignore[attr-defined]

    def discard(spans: Any) -> SpanExportResult:
        del spans
        return SpanExportResult.SUCCESS

    def exporters() -> Any:
        found = original()
        found.spans.export = discard  # type: ignore[method-assign]
        return found

    setup.otlp_exporters = exporters  # type: ignore[attr-defined]


def per_span_grouping() -> None:
    """The span encoder before it looked resources up by identity and read the SDK's attribute
    dict: every span hashes its Resource (a JSON dump of its attributes) and iterates its
    attributes through the public read-only proxy."""
    from orderflow.telemetry import otlp_spans  # noqa: PLC0415

    def encode(self: Any, spans: Any) -> bytes:
        grouped: dict[Any, dict[Any, list[bytes]]] = {}
        for span in spans:
            by_scope = grouped.setdefault(span.resource, {})
            by_scope.setdefault(span.instrumentation_scope or None, []).append(self.span(span))
        out = []
        for resource, by_scope in grouped.items():
            body = [self._resource(resource)]
            for scope, encoded in by_scope.items():
                body.append(otlp_spans._field(0x12, self._scope(scope) + b"".join(encoded)))
            if resource.schema_url:
                body.append(otlp_spans._field(0x1A, resource.schema_url.encode()))
            out.append(otlp_spans._field(0x0A, b"".join(body)))
        return b"".join(out)

    otlp_spans.LeanSpanEncoder.encode = encode  # type: ignore[method-assign]
    otlp_spans._attribute_dict = lambda span: span.attributes or {}


def regex_routes() -> None:
    """The route template rewritten by a regex substitution on every request (no cache)."""
    from orderflow.telemetry import asgi  # noqa: PLC0415

    asgi._route = asgi._route.__wrapped__  # type: ignore[assignment]


def upstream_sql_spans() -> None:
    """Every statement's span opened by the SQLAlchemy instrumentation's own listener (the
    product before ``orderflow.telemetry.sql_statements``)."""
    from orderflow.telemetry import clients  # noqa: PLC0415

    clients.trace_statements = lambda engine: False  # type: ignore[attr-defined]


def before_afternoon() -> None:
    """The product before the 2026-12-03 afternoon round, all at once: ``per_span_grouping``,
    ``regex_routes``, ``upstream_sql_spans``."""
    per_span_grouping()
    regex_routes()
    upstream_sql_spans()


def small_batches() -> None:
    """Span/log batches of 64 every 200 ms instead of 512 every 5 s: the exporter thread then
    holds the GIL (protobuf encoding) in short slices instead of stalling the event loop for
    tens of ms — the telemetry-on p99. ``os.environ`` before the SDK is configured."""
    os.environ.setdefault("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64")
    os.environ.setdefault("OTEL_BSP_SCHEDULE_DELAY", "200")
    os.environ.setdefault("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "64")


def telemetry_off() -> None:
    """Reference: ``OTEL_SDK_DISABLED=true`` (to compare on/off in one table)."""
    os.environ["OTEL_SDK_DISABLED"] = "true"


def no_exemplars() -> None:
    """Attribution only: ``OTEL_METRICS_EXEMPLAR_FILTER=always_off`` (the SDK's default,
    trace_based, offers every measurement taken inside a sampled span to a reservoir, on
    every instrument, not only the latency histogram that needs exemplars)."""
    os.environ["OTEL_METRICS_EXEMPLAR_FILTER"] = "always_off"


def grpc_export() -> None:
    """Traces, metrics and logs over OTLP/gRPC (the same Collector's gRPC receiver)."""
    os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc"
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = os.environ["BENCH_OTLP_GRPC_ENDPOINT"]


def _batches(size: int, delay_ms: int, queue: int) -> None:
    for signal in ("BSP", "BLRP"):
        os.environ[f"OTEL_{signal}_MAX_EXPORT_BATCH_SIZE"] = str(size)
        os.environ[f"OTEL_{signal}_SCHEDULE_DELAY"] = str(delay_ms)
        os.environ[f"OTEL_{signal}_MAX_QUEUE_SIZE"] = str(queue)


def grpc_batch512() -> None:
    """``grpc_export`` with batches of up to 512 every second (queue 4096)."""
    grpc_export()
    _batches(512, 1000, 4096)


def grpc_batch2048() -> None:
    """``grpc_export`` with batches of up to 2048 every 2 s (queue 8192)."""
    grpc_export()
    _batches(2048, 2000, 8192)


def grpc_switch() -> None:
    """``grpc_export`` with a 0.5 ms GIL switch interval instead of 5 ms: an exporter thread
    encoding a batch hands the GIL back to the event loop ten times sooner."""
    grpc_export()
    sys.setswitchinterval(0.0005)


def http_batch512() -> None:
    """OTLP/HTTP with batches of up to 512 every second (queue 4096)."""
    _batches(512, 1000, 4096)


VARIANTS: dict[str, Callable[[], None]] = {
    "baseline": baseline,
    "telemetry-off": telemetry_off,
    "small-batches": small_batches,
    "no-exemplars": no_exemplars,
    "no-pre-ping": no_pre_ping,
    "pre-ping": pre_ping,
    "autocommit": autocommit,
    "lean-reads": lean_reads,
    "pool20": pool20,
    "lean-reads-pool20": lean_reads_pool20,
    "sequential-deps": sequential_deps,
    "lean": lean,
    "no-connect-span": no_connect_span,
    "no-sqlalchemy-spans": no_sqlalchemy_spans,
    "no-redis-spans": no_redis_spans,
    "no-otlp-logs": no_otlp_logs,
    "no-prometheus-bridge": no_prometheus_bridge,
    "no-span-export": no_span_export,
    "sdk-counters": sdk_counters,
    "no-gc-tuning": no_gc_tuning,
    "before-hot-path": before_hot_path,
    "upstream-redis-spans": upstream_redis_spans,
    "per-span-grouping": per_span_grouping,
    "regex-routes": regex_routes,
    "upstream-sql-spans": upstream_sql_spans,
    "before-afternoon": before_afternoon,
    "grpc-export": grpc_export,
    "grpc-batch512": grpc_batch512,
    "grpc-batch2048": grpc_batch2048,
    "http-batch512": http_batch512,
    "grpc-switch": grpc_switch,
}
