"""The per-statement SQL spans are the upstream SQLAlchemy instrumentation's spans, made cheaper.

Every test runs against the real PostgreSQL of the session (``tests/support/servers.py``): one
engine traced by the upstream ``EngineTracer`` alone, one where ``trace_statements`` swapped its
statement listener, the same statements on both, and what both export compared.
"""

from __future__ import annotations

import gc
import weakref
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy
from opentelemetry.instrumentation.sqlalchemy import engine as engine_module
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext import asyncio as sa_asyncio

from orderflow.resources import Resources
from orderflow.settings import Settings
from orderflow.telemetry import clients as clients_module
from orderflow.telemetry import sql_statements
from orderflow.telemetry.sql_statements import StatementSpans, trace_statements

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncEngine

    from orderflow.devservices import Postgres


def _engine(postgres: Postgres) -> AsyncEngine:
    # The unwrapped factory: if another test instrumented SQLAlchemy globally, its own engine
    # tracer would trace these engines a second time.
    factory = getattr(sa_asyncio.create_async_engine, "__wrapped__", sa_asyncio.create_async_engine)
    engine: AsyncEngine = factory(postgres.url.replace("postgresql://", "postgresql+asyncpg://"))
    return engine


def _sync_engine() -> Engine:
    """An in-memory SQLite engine (no host in its URL), from the unwrapped factory."""
    factory = getattr(sqlalchemy.create_engine, "__wrapped__", sqlalchemy.create_engine)
    engine: Engine = factory("sqlite://")
    return engine


def _engine_tracer(
    engine: AsyncEngine | Engine, provider: TracerProvider, **options: Any
) -> EngineTracer:
    tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", "0.66b1")
    usage = MeterProvider().get_meter("test").create_up_down_counter("db.client.connections.usage")
    sync = engine.sync_engine if isinstance(engine, sa_asyncio.AsyncEngine) else engine
    return EngineTracer(tracer, sync, usage, **options)  # type: ignore[no-untyped-call]


def _listener(engine: Engine) -> Any:
    return next(
        listener
        for target, identifier, listener in EngineTracer._remove_event_listener_params
        if identifier == "before_cursor_execute" and target() is engine
    )


@pytest.fixture
async def engines(
    postgres: Postgres, provider: TracerProvider
) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    upstream, ours = _engine(postgres), _engine(postgres)
    _engine_tracer(upstream, provider)
    _engine_tracer(ours, provider)
    assert trace_statements(ours.sync_engine)
    yield upstream, ours
    for engine in (upstream, ours):
        await engine.dispose()


def _shape(span: ReadableSpan) -> tuple[Any, ...]:
    return (
        span.name,
        span.kind,
        list((span.attributes or {}).items()),  # in order
        span.parent is not None,
        span.status.status_code,
        span.status.description,
        span.instrumentation_scope,
    )


async def _statements(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        await conn.execute(text("SELECT :n + 1"), {"n": 1})
        await conn.execute(text("/* a leading comment */ SELECT 2"))
        await conn.execute(text("\n    select\n      3 as three\n"))
        await conn.execute(text("CREATE TEMP TABLE sql_spans (n int)"))
        await conn.execute(text("INSERT INTO sql_spans VALUES (:n)"), [{"n": 1}, {"n": 2}])
        await conn.execute(text("SELECT 1"))  # a second time: the name from the table
        with pytest.raises(ProgrammingError):
            await conn.execute(text("SELECT * FROM no_such_table"))
        await conn.rollback()
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with autocommit.connect() as conn:  # another Engine object, the same URL
        await conn.execute(text("SELECT 4"))


async def test_statements_export_the_upstream_spans(
    engines: tuple[AsyncEngine, AsyncEngine], exporter: InMemorySpanExporter
) -> None:
    upstream, ours = engines
    assert isinstance(_listener(ours.sync_engine), StatementSpans)
    assert not isinstance(_listener(upstream.sync_engine), StatementSpans)
    await _statements(upstream)
    by_upstream = [_shape(s) for s in exporter.get_finished_spans()]
    exporter.clear()
    await _statements(ours)
    by_ours = [_shape(s) for s in exporter.get_finished_spans()]

    assert len(by_upstream) == 9
    assert by_ours == by_upstream
    names = [shape[0] for shape in by_ours]
    assert names == ["SELECT", "SELECT", "SELECT", "select", "CREATE", "INSERT", "SELECT",
                     "SELECT", "SELECT"]  # fmt: skip
    first = dict(by_ours[0][2])
    assert first["db.system"] == "postgresql"
    assert first["db.statement"] == "SELECT 1"
    assert first["net.peer.name"] == "127.0.0.1"
    assert by_ours[7][4].name == "ERROR"
    assert "no_such_table" in by_ours[7][5]


async def test_the_span_is_a_child_of_the_current_span_and_leaves_it_current(
    engines: tuple[AsyncEngine, AsyncEngine],
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    _, ours = engines
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET /api/articles/{slug}", kind=SpanKind.SERVER) as parent:
        async with ours.connect() as conn:
            await conn.execute(text("SELECT 1"))
        after = tracer.start_span("after")  # never ended: not exported
        assert isinstance(after, ReadableSpan)
        assert after.parent == parent.get_span_context()
    [statement, server] = exporter.get_finished_spans()
    assert statement.kind is SpanKind.CLIENT
    assert statement.parent == server.context


async def test_suppressed_statements_make_no_span(
    engines: tuple[AsyncEngine, AsyncEngine], exporter: InMemorySpanExporter
) -> None:
    _, ours = engines
    async with ours.connect() as conn:
        with suppress_instrumentation():
            assert (await conn.execute(text("SELECT 5"))).scalar() == 5
    assert exporter.get_finished_spans() == ()


def test_sqlite_without_a_host_reads_the_connection_per_statement(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """No host in the URL: the instrumentation reads the attributes from the cursor's
    connection at every statement, and so must the swapped listener."""
    upstream, ours = _sync_engine(), _sync_engine()
    for engine in (upstream, ours):
        _engine_tracer(engine, provider)
    assert trace_statements(ours)
    shapes = []
    for engine in (upstream, ours):
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            conn.execute(text("SELECT :n"), {"n": 2})
        shapes.append([_shape(s) for s in exporter.get_finished_spans()])
        exporter.clear()
    assert len(shapes[0]) == 2
    assert shapes[1] == shapes[0]
    assert dict(shapes[1][0][2])["db.system"] == "sqlite"


def test_uninstrumenting_removes_the_swapped_listener(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A list of this test's own: uninstrumenting touches every engine the list names.
    monkeypatch.setattr(EngineTracer, "_remove_event_listener_params", [])
    engine = _sync_engine()
    _engine_tracer(engine, provider)
    assert trace_statements(engine)
    swapped = _listener(engine)
    assert event.contains(engine, "before_cursor_execute", swapped)
    EngineTracer.remove_all_event_listeners()  # type: ignore[no-untyped-call]
    assert not event.contains(engine, "before_cursor_execute", swapped)


def test_the_swapped_entry_leaves_the_list_with_its_engine(provider: TracerProvider) -> None:
    engine = _sync_engine()
    _engine_tracer(engine, provider)
    assert trace_statements(engine)
    swapped = weakref.ref(_listener(engine))
    del engine
    gc.collect()
    assert swapped() is None  # nothing, the instrumentation's list included, holds it


def test_not_swapped_behind_a_later_statement_listener(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A listener added after the instrumentation's sees the statement after the span opened
    (a rewrite is not recorded); the swapped one could only go after it, so nothing is
    swapped and the span records what it did before."""

    def tag(*args: Any) -> tuple[str, Any]:
        return args[2] + " -- tagged", args[3]

    engine = _sync_engine()
    _engine_tracer(engine, provider)
    upstream = _listener(engine)
    event.listen(engine, "before_cursor_execute", tag, retval=True)
    assert not trace_statements(engine)
    assert _listener(engine) is upstream
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    [span] = exporter.get_finished_spans()
    assert (span.attributes or {})["db.statement"] == "SELECT 1"


async def test_nothing_is_swapped_without_an_engine_tracer_or_with_sql_comments(
    postgres: Postgres, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    untraced, commented = _engine(postgres), _engine(postgres)
    try:
        assert not trace_statements(untraced.sync_engine)
        _engine_tracer(commented, provider, enable_commenter=True)
        upstream = _listener(commented.sync_engine)
        assert not trace_statements(commented.sync_engine)
        assert _listener(commented.sync_engine) is upstream
        async with commented.connect() as conn:
            await conn.execute(text("SELECT 1"))
        [span] = exporter.get_finished_spans()
        assert span.name == "SELECT"
    finally:
        for engine in (untraced, commented):
            await engine.dispose()


def test_written_for_the_installed_instrumentation_release() -> None:
    """Bumping the instrumentation in uv.lock fails here: re-run the comparison above against
    the new release, then move ``WRITTEN_FOR``."""
    assert version("opentelemetry-instrumentation-sqlalchemy") == sql_statements.WRITTEN_FOR


def test_another_instrumentation_release_keeps_its_own_listener(
    provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OpenTelemetry Operator injects its own instrumentation packages, which may lack the
    private helpers the swapped listener uses: left alone, without touching them."""
    engine = _sync_engine()
    _engine_tracer(engine, provider)
    upstream = _listener(engine)
    monkeypatch.setattr(sql_statements, "WRITTEN_FOR", "0.0b0")
    monkeypatch.delattr(engine_module, "_get_db_name_from_cursor_or_conn")
    assert not trace_statements(engine)
    assert _listener(engine) is upstream


async def test_the_process_engine_gets_the_swapped_listener(
    postgres: Postgres,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``Resources.open``, which both entry points call: once the instrumentation has traced
    the new engine (here its creation-time wrapper, stood in for so the test needs no
    process-wide patching), the engine's statement listener is the swapped one."""
    unwrapped = getattr(
        sa_asyncio.create_async_engine, "__wrapped__", sa_asyncio.create_async_engine
    )

    def traced_at_creation(*args: Any, **kwargs: Any) -> AsyncEngine:
        engine: AsyncEngine = unwrapped(*args, **kwargs)
        _engine_tracer(engine, provider)
        return engine

    monkeypatch.setattr(sa_asyncio, "create_async_engine", traced_at_creation)
    monkeypatch.setattr(clients_module, "_sdk_active", lambda: True)
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("DATABASE_URL", postgres.url)
    resources = Resources.open(Settings.from_env())
    try:
        assert isinstance(_listener(resources.engine.sync_engine), StatementSpans)
        async with resources.read_sessions() as session:  # the AUTOCOMMIT option engine
            await session.execute(text("SELECT 1"))
        [span] = exporter.get_finished_spans()
        assert span.name == "SELECT"
        assert (span.attributes or {})["db.statement"] == "SELECT 1"
    finally:
        await resources.close()
