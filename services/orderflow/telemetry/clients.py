"""Client instrumentation applied to specific clients, never globally.

Only the cache's Redis client is traced (the broker's idle polling would flood the backend
with root spans), and only the email client's HTTP calls. When zero-code instrumentation has
already patched a library globally, instrumenting the client again would duplicate its spans.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.trace import TracerProvider

from orderflow.telemetry.redis_commands import default_semconv, trace_commands
from orderflow.telemetry.sql_statements import trace_statements

if TYPE_CHECKING:
    import httpx
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine


def _sdk_active() -> bool:
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def instrument_cache_client(client: Redis) -> None:
    if _sdk_active() and not RedisInstrumentor().is_instrumented_by_opentelemetry:
        RedisInstrumentor.instrument_client(client)  # pipelines keep the upstream spans
        if default_semconv():
            # Single commands, the hot path: the same spans with less work (docs/decisions.md).
            trace_commands(client)


def trace_engine_statements(engine: AsyncEngine) -> None:
    """The engine's per-statement spans, cheaper (``sql_statements``). The SQLAlchemy
    instrumentation (ours or zero-code's) traced the engine when it was created; this changes
    only how its statement listener does that work, and only under the instrumentation release
    it was checked against (an injected release keeps its own listener)."""
    if _sdk_active():
        trace_statements(engine.sync_engine)


def instrument_http_client(client: httpx.AsyncClient) -> None:
    if _sdk_active() and not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
        HTTPXClientInstrumentor.instrument_client(client)
