"""CPU per call of the telemetry parts a request pays for: ``python -m bench.parts VARIANT...``.

Where ``bench.ab`` and ``bench.micro`` measure whole requests (and, on a shared machine, swing by
±20% between rounds), this times the parts one at a time, each thousands of times in a tight
loop, in one process per variant (bench/ab_patches.py) pinned to the server core, rounds
alternating between variants:

* **span encoding**, µs per span: a batch of 64 spans shaped like the product's (the cached
  read's server + Redis ``GET`` spans, the database read's server + SQL ``SELECT`` spans) through
  the OTLP span exporter's encoder, and through the upstream encoder for reference;
* **statement listener**, µs per statement: the ``before_cursor_execute`` listener the product
  leaves on its engines (a real asyncpg connection to a throwaway PostgreSQL), plus ending the
  span it opens — i.e. one SQL span, start to end, without the query::

    .venv/bin/python -m bench.parts baseline before-afternoon
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any

from bench.ab_patches import VARIANTS
from bench.run import log
from bench.servers import SERVER_CPUS, child_result, pin_self_to_load_cpus, taskset
from orderflow.devservices import Postgres

_SELECT = (
    "SELECT articles.id, articles.slug, articles.title, articles.description, articles.body, "
    "articles.author_id, articles.created_at, articles.updated_at, users.username \n"
    "FROM articles JOIN users ON users.id = articles.author_id \n"
    "WHERE articles.slug = $1::VARCHAR"
)
_SERVER: dict[str, Any] = {
    "http.request.method": "GET",
    "url.scheme": "http",
    "network.protocol.version": "1.1",
    "server.address": "127.0.0.1",
    "server.port": 8080,
    "client.address": "127.0.0.1",
}
_REDIS: dict[str, Any] = {
    "db.system": "redis",
    "db.redis.database_index": 0,
    "net.peer.name": "127.0.0.1",
    "net.peer.port": 6379,
    "net.transport": "ip_tcp",
    "db.statement": "GET ?",
    "db.redis.args_length": 2,
}
_SQL: dict[str, Any] = {
    "net.peer.name": "127.0.0.1",
    "net.peer.port": 5432,
    "db.name": "orderflow",
    "db.user": "orderflow",
    "db.statement": _SELECT,
    "db.system": "postgresql",
    "db.operation": "SELECT",
}


def _batch(resource_service: str) -> list[Any]:
    """64 finished spans, alternating server and client, as a batch of the exporter gets."""
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
        InMemorySpanExporter,
    )
    from opentelemetry.trace import SpanKind, set_span_in_context  # noqa: PLC0415

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": resource_service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    http = provider.get_tracer("orderflow.http")
    redis = provider.get_tracer("opentelemetry.instrumentation.redis", "0.66b1")
    sql = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", "0.66b1")
    for number in range(32):
        cached = number % 2 == 0
        path = f"/api/stock/sku-{number % 12:03d}" if cached else f"/api/articles/a-{number}"
        server = http.start_span(
            "GET", kind=SpanKind.SERVER, attributes={**_SERVER, "url.path": path}
        )
        child_tracer, child_name, child_attributes = (
            (redis, "GET", _REDIS) if cached else (sql, "SELECT", _SQL)
        )
        child_tracer.start_span(
            child_name,
            context=set_span_in_context(server),
            kind=SpanKind.CLIENT,
            attributes=child_attributes,
        ).end()
        route = "/api/stock/{item_id}" if cached else "/api/articles/{slug}"
        server.update_name(f"GET {route}")
        server.set_attributes({"http.response.status_code": 200, "http.route": route})
        server.end()
    return list(exporter.get_finished_spans())


def _per_call(function: Any, calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        function()
    return (time.process_time() - started) / calls * 1e6


def _encoding(batch: list[Any]) -> dict[str, float]:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import (  # noqa: PLC0415
        encode_spans,
    )

    from orderflow.telemetry.otlp_spans import LeanSpanEncoder  # noqa: PLC0415

    encoder = LeanSpanEncoder()
    ours = _per_call(lambda: encoder.encode(batch), 300) / len(batch)
    upstream = _per_call(lambda: encode_spans(batch).SerializeToString(), 60) / len(batch)
    return {"encode_us_per_span": ours, "upstream_encode_us_per_span": upstream}


async def _statement_listener(database_url: str) -> float:
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer  # noqa: PLC0415
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
    from sqlalchemy import event, text  # noqa: PLC0415
    from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415

    from orderflow.telemetry import clients  # noqa: PLC0415

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            del spans
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    # Queued like the product's spans, then dropped (export is timed by the encoder part).
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    engine = create_async_engine(database_url.replace("postgresql://", "postgresql+asyncpg://"))
    usage = MeterProvider().get_meter("bench").create_up_down_counter("usage")
    tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", "0.66b1")
    EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]
    clients.trace_statements(engine.sync_engine)  # type: ignore[attr-defined]  # as Resources.open
    listener = next(
        found
        for target, identifier, found in EngineTracer._remove_event_listener_params
        if identifier == "before_cursor_execute" and target() is engine.sync_engine
    )
    captured: dict[str, Any] = {}

    def capture(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, _many: bool
    ) -> tuple[str, Any]:
        captured.update(conn=conn, cursor=cursor, context=context)
        return statement, params

    event.listen(engine.sync_engine, "before_cursor_execute", capture, retval=True)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        context = captured["context"]

        def one() -> None:
            listener(captured["conn"], captured["cursor"], _SELECT, (), context, False)
            context._otel_span.end()

        return _per_call(one, 5000)
    finally:
        await engine.dispose()


def child(variant: str, database_url: str) -> None:
    VARIANTS[variant]()
    result = _encoding(_batch("orderflow-api"))
    result["statement_us"] = asyncio.run(_statement_listener(database_url))
    print("PARTSJSON " + json.dumps(result), flush=True)


def measure(variant: str, database_url: str) -> dict[str, float]:
    argv = [
        *taskset(SERVER_CPUS), sys.executable, "-m", "bench.parts", "--child", variant,
        "--database-url", database_url,
    ]  # fmt: skip
    return child_result(argv, "PARTSJSON", variant, dict(os.environ))


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.parts", description=__doc__)
    parser.add_argument("variants", nargs="*", default=["baseline"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.database_url)
        return
    pin_self_to_load_cpus()
    postgres = Postgres().start()
    try:
        results: dict[str, list[dict[str, float]]] = {v: [] for v in args.variants}
        for round_ in range(args.rounds):
            for variant in args.variants:
                result = measure(variant, postgres.url)
                results[variant].append(result)
                log(
                    f"round {round_ + 1} {variant:<22} "
                    + json.dumps({k: round(v, 1) for k, v in result.items()})
                )
    finally:
        postgres.stop()
    print(f"\nµs of CPU per call, median of {args.rounds} rounds [min-max]")
    print(
        f"{'variant':<22} {'encode/span':>18} {'upstream enc/span':>20} {'SQL span (listener)':>22}"
    )
    for variant, rounds in results.items():
        cells = []
        for key in ("encode_us_per_span", "upstream_encode_us_per_span", "statement_us"):
            values = [r[key] for r in rounds]
            cells.append(f"{statistics.median(values):6.1f} [{min(values):.0f}-{max(values):.0f}]")
        print(f"{variant:<22} {cells[0]:>18} {cells[1]:>20} {cells[2]:>22}")


if __name__ == "__main__":
    main()
