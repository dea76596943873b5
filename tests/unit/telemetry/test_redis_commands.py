"""The cache client's command spans are the upstream Redis instrumentation's spans, made cheaper.

Every test runs against the real Redis of the session (``tests/support/servers.py``), with the
upstream ``RedisInstrumentor`` on one client and ``trace_commands`` on another, and compares
what both export.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from orderflow.telemetry import clients as clients_module
from orderflow.telemetry.redis_commands import TracedCommands, default_semconv, trace_commands

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from orderflow.devservices import Redis as RedisServer


@pytest.fixture
async def clients(
    redis_server: RedisServer, provider: TracerProvider
) -> AsyncIterator[tuple[Redis, Redis]]:
    upstream, ours = Redis.from_url(redis_server.url), Redis.from_url(redis_server.url)
    RedisInstrumentor.instrument_client(upstream, tracer_provider=provider)
    RedisInstrumentor.instrument_client(ours, tracer_provider=provider)
    trace_commands(ours, provider)
    yield upstream, ours
    for client in (upstream, ours):
        await client.delete("rc:key", "rc:text")
        await client.aclose()


def _shape(span: ReadableSpan) -> tuple[Any, ...]:
    return (
        span.name,
        span.kind,
        dict(span.attributes or {}),
        span.status.status_code,
        span.status.description,
        [(e.name, (e.attributes or {}).get("exception.type")) for e in span.events],
        span.instrumentation_scope,
    )


async def _commands(client: Redis) -> None:
    await client.set("rc:key", "value", ex=60)
    await client.get("rc:key")
    await client.get("rc:absent")
    await client.set("rc:text", "not a number")
    with pytest.raises(ResponseError):
        await client.incr("rc:text")
    with pytest.raises(ResponseError):
        await client.execute_command("NO.SUCH.COMMAND", "argument")  # type: ignore[no-untyped-call]
    await client.delete(*[f"rc:many:{i}" for i in range(600)])  # a statement over 1000 chars
    await client.delete("rc:key")


async def test_single_commands_export_the_upstream_spans(
    clients: tuple[Redis, Redis], exporter: InMemorySpanExporter
) -> None:
    upstream, ours = clients
    assert isinstance(ours.execute_command, TracedCommands)
    assert not isinstance(upstream.execute_command, TracedCommands)
    await _commands(upstream)
    by_upstream = [_shape(s) for s in exporter.get_finished_spans()]
    exporter.clear()
    await _commands(ours)
    by_ours = [_shape(s) for s in exporter.get_finished_spans()]

    assert len(by_upstream) == 8
    assert by_ours == by_upstream
    names = [shape[0] for shape in by_ours]
    assert names == ["SET", "GET", "GET", "SET", "INCRBY", "NO.SUCH.COMMAND", "DEL", "DEL"]
    assert by_ours[1][2]["db.statement"] == "GET ?"
    assert len(by_ours[6][2]["db.statement"]) == 1000
    assert by_ours[4][3].name == "ERROR"
    assert by_ours[4][5] == [("exception", "redis.exceptions.ResponseError")]


async def test_the_span_is_a_child_of_the_current_span_and_leaves_it_current(
    clients: tuple[Redis, Redis], provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    _, ours = clients
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET /api/stock/{item_id}", kind=SpanKind.SERVER) as parent:
        await ours.get("rc:key")
        after = tracer.start_span("after")  # never ended: not exported
        assert isinstance(after, ReadableSpan)
        assert after.parent == parent.get_span_context()
    [command, server] = exporter.get_finished_spans()
    assert command.kind is SpanKind.CLIENT
    assert command.parent == server.context
    assert command.context.trace_id == server.context.trace_id


async def test_suppressed_commands_make_no_span(
    clients: tuple[Redis, Redis], exporter: InMemorySpanExporter
) -> None:
    _, ours = clients
    with suppress_instrumentation():
        assert await ours.ping()
    assert exporter.get_finished_spans() == ()


async def test_pipelines_keep_the_upstream_span(
    clients: tuple[Redis, Redis], exporter: InMemorySpanExporter
) -> None:
    upstream, ours = clients
    shapes = []
    for client in (upstream, ours):
        async with client.pipeline(transaction=True) as pipe:
            pipe.incr("rc:counter")
            pipe.expire("rc:counter", 60)
            await pipe.execute()
        shapes.append([_shape(s) for s in exporter.get_finished_spans()])
        exporter.clear()
    await ours.delete("rc:counter")
    assert len(shapes[1]) == 1
    assert shapes[1] == shapes[0]


@pytest.mark.parametrize(
    ("opt_in", "expected"),
    [("", True), ("messaging", True), ("database", False), ("http/dup, database", False)],
)
def test_newer_attribute_names_are_left_to_the_upstream_instrumentation(
    monkeypatch: pytest.MonkeyPatch, opt_in: str, expected: bool
) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", opt_in)
    assert default_semconv() is expected


@pytest.mark.parametrize(("opt_in", "ours"), [("", True), ("database", False)])
def test_the_cache_client_gets_command_spans_unless_newer_names_are_asked_for(
    monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer, opt_in: str, ours: bool
) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", opt_in)
    monkeypatch.setattr(clients_module, "_sdk_active", lambda: True)
    client = Redis.from_url(redis_server.url)
    clients_module.instrument_cache_client(client)
    assert isinstance(client.execute_command, TracedCommands) is ours
    assert getattr(client, "_is_instrumented_by_opentelemetry", False)  # pipelines: upstream
