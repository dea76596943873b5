"""The cache client's command spans, made where a cached read spends its telemetry.

The Redis instrumentation (``opentelemetry-instrumentation-redis``) builds every command's span
from scratch: a generator context manager that makes the span current, one locked
``set_attribute`` call per attribute, the connection attributes re-derived from the pool's
keyword arguments, and its ``wrapt`` proxy around the call. On the cached read (one ``GET``
per request) that was ~130 µs of the ~490 µs telemetry adds (bench/README.md, "Round of
2026-12-03"). This wrapper emits the same span for a single command — name, kind, attributes,
error status and exception event, parent — from a connection attribute set computed once per
client, handed to ``start_span`` in one dict. The span is not made current (attaching and
detaching a context is a third of the cost saved): no span starts inside a Redis call, and a
warning redis-py might log from inside carries the request's span instead.

Taken once per client, the connection attributes are the pool's settings at instrumentation
time (redis-py rewrites them only on RESP3 maintenance notifications, which this client, on
RESP2, never gets). Search commands (``FT.SEARCH``, ``FT.CREATE``), which the cache never
sends, are named by the command instead of the upstream ``redis.search``/``redis.create_index``.

What stays with the upstream instrumentation: pipelines (``client.pipeline()``, the login
throttle's ``MULTI``/``EXEC``), every command when ``OTEL_SEMCONV_STABILITY_OPT_IN`` asks for
the newer attribute names (this wrapper emits the default, stable-before-migration ones only),
and all of it in zero-code mode. ``tests/unit/telemetry/test_redis_commands.py`` checks the
spans against the upstream instrumentation's own, command by command.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.instrumentation.redis.version import __version__ as _redis_instrumentation
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind, Status, StatusCode

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from redis.asyncio import Redis

_MAX_STATEMENT = 1000
_TRUNCATED = "..."


def default_semconv() -> bool:
    """True unless the process opted into newer database/network attribute names, which only
    the upstream instrumentation knows how to emit."""
    opt_in = os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "")
    return not any(part.strip() in {"database", "database/dup", "http", "http/dup"}
                   for part in opt_in.split(","))  # fmt: skip


def connection_attributes(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """What the instrumentation sets from the pool's connection keyword arguments (empty
    strings and ports are left out, as it leaves them out)."""
    db = kwargs.get("db")
    attributes: dict[str, Any] = {"db.system": "redis", "db.redis.database_index": int(db or 0)}
    if "path" in kwargs:
        peer, transport, port = kwargs.get("path", ""), "other", None
    else:
        peer, transport, port = kwargs.get("host", "localhost"), "ip_tcp", kwargs.get("port", 6379)
    if peer:
        attributes["net.peer.name"] = peer
    if port:
        attributes["net.peer.port"] = int(port)
    attributes["net.transport"] = transport
    return attributes


def statement(args: tuple[Any, ...]) -> str:
    """``GET ?``: the command name, every argument replaced by ``?``, at most 1000 characters."""
    if not args:
        return ""
    text = " ".join([str(args[0]), *["?"] * (len(args) - 1)])
    if len(text) > _MAX_STATEMENT:
        text = text[: _MAX_STATEMENT - len(_TRUNCATED)] + _TRUNCATED
    return text


class TracedCommands:
    """Stands in for ``client.execute_command``: the same coroutine, inside a CLIENT span."""

    __slots__ = ("_connection", "_execute", "_tracer")

    def __init__(
        self,
        execute: Callable[..., Awaitable[Any]],
        connection: Mapping[str, Any],
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self._execute = execute
        self._connection = connection
        # The instrumentation's scope name and version: the spans are the ones it defines.
        self._tracer = trace.get_tracer(
            "opentelemetry.instrumentation.redis",
            _redis_instrumentation,
            tracer_provider,
            schema_url="https://opentelemetry.io/schemas/1.11.0",
        )

    async def __call__(self, *args: Any, **options: Any) -> Any:
        if not is_instrumentation_enabled():  # e.g. the readiness probe's PING
            return await self._execute(*args, **options)
        name = (
            str(args[0]) if args and args[0] else str(self._connection["db.redis.database_index"])
        )
        attributes = {
            **self._connection,
            "db.statement": statement(args),
            "db.redis.args_length": len(args),
        }
        span = self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        try:
            return await self._execute(*args, **options)
        except Exception as exc:  # as the instrumentation's span records it, then re-raised
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            span.end()


def trace_commands(client: Redis, tracer_provider: trace.TracerProvider | None = None) -> None:
    """Route the client's single commands through ``TracedCommands``. Call after the upstream
    ``RedisInstrumentor.instrument_client`` (which keeps the pipelines)."""
    execute = type(client).execute_command.__get__(client)
    connection = connection_attributes(client.connection_pool.connection_kwargs)
    client.execute_command = TracedCommands(execute, connection, tracer_provider)  # type: ignore[method-assign]
