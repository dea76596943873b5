"""The per-statement SQL spans of the SQLAlchemy instrumentation, made with less work.

``opentelemetry-instrumentation-sqlalchemy`` traces an engine with an ``EngineTracer`` whose
``before_cursor_execute`` listener opens one CLIENT span per statement. Per statement it
re-derives the connection attributes from the engine URL, strips a leading comment from the
whole statement with a regex and splits all of it into words to name the span by the first,
makes the span current while it sets the attributes with one locked ``set_attribute`` call
each, and only then hands it on: 103 µs per statement with the SDK's own span work, against
55 µs for this module's listener (bench/README.md, "Round of 2026-12-03, afternoon").

``trace_statements`` swaps that one listener, on one engine the instrumentation traced, for
``StatementSpans``, which writes the same span: the same tracer (scope name and version), name,
kind, parent and attributes, built by the instrumentation's own attribute helpers under its own
semantic-convention modes. What it does once instead of every time: the URL attributes (once
per URL object: an engine's URL never changes), the span name (once per distinct statement
text; SQLAlchemy's compiled cache hands the same strings back). The attributes go to
``start_span`` in one dict and the span is not made current while they are set (nothing runs in
between that could read it); a sampler therefore sees them at the start, where upstream's sees
none (the SDK's samplers pass them through unchanged). Everything else stays upstream's: the
after-execute and error listeners that end the span (they read ``context._otel_span``, which
this listener sets the same way), the pool listeners, the engine wrapping, uninstrumenting.
Nothing is swapped with SQL commenting on (the comment is built from the current span), nor
under any release of the instrumentation but the one this was written and tested against: the
OpenTelemetry Operator's injection brings its own, whose internals may differ.

``tests/unit/telemetry/test_sql_statements.py`` compares both listeners' spans statement by
statement on a real PostgreSQL.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

# Modules only: the helpers are private names, looked up once a listener is built, i.e. after
# the release check (another release may lack them; importing them here would fail at start).
from opentelemetry.instrumentation import _semconv
from opentelemetry.instrumentation.sqlalchemy import engine as _upstream
from opentelemetry.instrumentation.sqlalchemy import version as _instrumentation
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind
from sqlalchemy import event

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Engine

_EVENT = "before_cursor_execute"
WRITTEN_FOR = "0.66b1"
"""The instrumentation release whose listener ``StatementSpans`` reproduces (uv.lock pins it;
a test fails when the two part, so a bump is re-checked span by span)."""
_NAMES_KEPT = 1024


class StatementSpans:
    """Stands in for ``EngineTracer._before_cur_exec`` of one engine tracer."""

    def __init__(self, upstream: Any) -> None:
        self._upstream = upstream
        self._tracer = upstream.tracer
        self._vendor: str = upstream.vendor
        self._db_mode = upstream._sem_conv_opt_in_mode_db
        self._http_mode = upstream._sem_conv_opt_in_mode_http
        # The instrumentation's own helpers, so the attributes follow its semconv modes.
        self._url_attributes_of: Callable[..., Any] = _upstream._get_attributes_from_url
        self._cursor_attributes_of: Callable[..., Any] = (
            _upstream._get_attributes_from_cursor_or_conn
        )
        self._db_name_of: Callable[..., Any] = _upstream._get_db_name_from_cursor_or_conn
        self._set_statement: Callable[..., Any] = _semconv._set_db_statement
        self._set_system: Callable[..., Any] = _semconv._set_db_system
        self._set_operation: Callable[..., Any] = _semconv._set_db_operation
        self._url: object = None
        self._url_attributes: dict[str, Any] = {}
        self._url_has_host = False
        self._names: dict[tuple[str | None, str], str] = {}

    def __call__(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        params: Any,
        context: Any,
        executemany: bool,
    ) -> tuple[str, Any]:
        if not is_instrumentation_enabled():
            return statement, params
        attributes = self._connection_attributes(conn, cursor)
        db_name = self._db_name_of(self._vendor, conn, cursor)
        name = self._name(db_name, statement)
        self._set_statement(attributes, statement, self._db_mode)
        self._set_system(attributes, self._vendor, self._db_mode)
        self._set_operation(attributes, name, self._db_mode)
        context._otel_span = self._tracer.start_span(
            name, kind=SpanKind.CLIENT, attributes=attributes
        )
        return statement, params

    def _connection_attributes(self, conn: Any, cursor: Any) -> dict[str, Any]:
        """A fresh dict each call: the caller adds the statement's attributes to it."""
        url = conn.engine.url
        if url is not self._url:
            self._url_attributes, self._url_has_host = self._url_attributes_of(
                url, self._db_mode, self._http_mode
            )
            self._url = url
        attributes = dict(self._url_attributes)
        if self._url_has_host:
            return attributes
        # No host in the URL (SQLite, a Unix socket): the cursor's connection knows, per call.
        found: dict[str, Any] = self._cursor_attributes_of(
            self._vendor, conn, cursor, attributes, self._db_mode, self._http_mode
        )
        return found

    def _name(self, db_name: str | None, statement: str) -> str:
        key = (db_name, statement)
        name = self._names.get(key)
        if name is None:
            name = self._upstream._operation_name(db_name, statement)
            if len(self._names) >= _NAMES_KEPT:
                self._names.clear()
            self._names[key] = name
        return name


def trace_statements(engine: Engine) -> bool:
    """Put ``StatementSpans`` in place of the instrumentation's per-statement listener on
    ``engine`` (a sync engine: an ``AsyncEngine``'s ``sync_engine``). False, and nothing
    changed, when the instrumentation is another release than ``WRITTEN_FOR``, no engine
    tracer listens on the engine, SQL commenting is on, or another statement listener was
    added after the instrumentation's."""
    if _instrumentation.__version__ != WRITTEN_FOR:
        return False
    tracer_class: Any = _upstream.EngineTracer
    listeners: list[tuple[Any, str, Any]] = tracer_class._remove_event_listener_params
    for index, (target, identifier, listener) in enumerate(listeners):
        if identifier != _EVENT or target() is not engine:
            continue
        upstream = getattr(listener, "__self__", None)
        if not isinstance(upstream, tracer_class) or upstream.enable_commenter:
            return False
        # A listener can only be appended (SQLAlchemy ignores ``insert`` for engine events):
        # only when the instrumentation's is the last one does ours take its place in the
        # order, so that a listener rewriting statements runs after the span opens, as before.
        # ``Resources.open`` swaps right after creating the engine, when it is the only one.
        if list(engine.dispatch.before_cursor_execute)[-1:] != [listener]:
            return False
        ours = StatementSpans(upstream)
        event.remove(engine, _EVENT, listener)
        event.listen(engine, _EVENT, ours, retval=True)
        # Uninstrumenting removes what this list names: ours, from now on; and like the
        # instrumentation's own entry, it leaves the list when the engine is collected.
        entry = (target, identifier, ours)
        listeners[index] = entry
        weakref.finalize(engine, tracer_class._dispose_of_event_listener, entry)
        return True
    return False
