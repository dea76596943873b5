"""The server span and the HTTP metrics, as the outermost ASGI wrapper of the API.

Why not the generic ASGI instrumentation (which Litestar's OpenTelemetry plugin wraps): it names
spans and sets ``http.route`` from the raw path unless told otherwise (unbounded cardinality),
adds two extra internal spans per response, and costs ~90 µs per request even when the request
is not sampled. This wrapper does one span and three instruments:

* the span starts before routing and is named ``METHOD /route/{template}`` once Litestar has
  routed (it writes ``scope["path_template"]``), just ``METHOD`` for unrouted requests;
* because it is outside Litestar, 404/405 and errors raised before a handler are measured too,
  and error bodies (built inside) carry the trace id of this very span;
* probes and scrapes (``/healthz``, ``/readyz``, ``/metrics``) are counted but not traced, and
  neither is what they call (the readiness check's SQL and Redis PING would otherwise be root
  spans, one trace per probe per pod).
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from typing import TYPE_CHECKING, Any, cast

from litestar.enums import ScopeType
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import asgi_getter
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.propagate import extract
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

from orderflow.domain.telemetry import meter
from orderflow.telemetry.tally import tally_counter, tally_up_down_counter

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_PARAM_TYPE = re.compile(r"\{(\w+):[^}]+\}")

# Counts are tallies (orderflow.telemetry.tally): no SDK measurement per request for them.
_served = tally_counter(
    meter, "http.server.request.total", unit="{request}", description="HTTP requests served"
)
_in_flight = tally_up_down_counter(
    meter, "http.server.active_requests", unit="{request}", description="Requests in flight"
)
_duration = meter.create_histogram(
    "http.server.request.duration",
    unit="s",
    description="Duration of HTTP server requests",
    # The semantic conventions' advice for HTTP latency.
    explicit_bucket_boundaries_advisory=[
        0.005,
        0.01,
        0.025,
        0.05,
        0.075,
        0.1,
        0.25,
        0.5,
        0.75,
        1,
        2.5,
        5,
        7.5,
        10,
    ],
)


def route_template(scope: Scope) -> str | None:
    """``/api/articles/{slug}`` from Litestar's ``/api/articles/{slug:str}``."""
    template: str | None = scope.get("path_template")
    return _route(template) if template else None


@functools.lru_cache(maxsize=512)
def _route(template: str) -> str:
    # Templates are the app's declared routes, a small fixed set: rewritten once each instead
    # of a regex substitution on every request.
    return _PARAM_TYPE.sub(r"{\1}", template)


class ServerTelemetryMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._tracer = trace.get_tracer("orderflow.http")
        # Decided once (entry points configure telemetry before building the app): without an
        # SDK, skip header extraction and span bookkeeping entirely; metrics stay.
        self._tracing = isinstance(trace.get_tracer_provider(), TracerProvider)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        path = scope["path"]
        status = 500
        started = time.perf_counter()
        method_key = (("http.request.method", method),)

        async def capture_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        if not self._tracing or path in UNTRACED_PATHS:
            span: trace.Span = trace.INVALID_SPAN
        else:
            span = self._tracer.start_span(
                method,
                context=extract(cast("dict[str, Any]", scope), getter=asgi_getter),
                kind=SpanKind.SERVER,
                attributes=self._request_attributes(scope, method, path),
            )
        # Metrics are recorded while the span is current: that is what lets the SDK attach
        # this trace as the histogram bucket's exemplar.
        untraced = (
            suppress_instrumentation() if path in UNTRACED_PATHS else contextlib.nullcontext()
        )
        with trace.use_span(span, end_on_exit=False, record_exception=False), untraced:
            # Counted in flight only here, where the ``finally`` below is sure to count it out.
            _in_flight.add(method_key, 1)
            try:
                await self.app(scope, receive, capture_status)
            except Exception as exc:
                span.record_exception(exc)
                raise
            finally:
                route = route_template(scope)
                labels = (
                    ("http.request.method", method),
                    ("http.route", route or ""),
                    ("http.response.status_code", status),
                )
                _in_flight.add(method_key, -1)
                _served.add(labels, 1)
                _duration.record(time.perf_counter() - started, dict(labels))
                if span.is_recording():
                    # One call (one lock, one pass of attribute checks) for all of them.
                    outcome: dict[str, Any] = {"http.response.status_code": status}
                    if route:
                        span.update_name(f"{method} {route}")
                        outcome["http.route"] = route
                    span.set_attributes(outcome)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                span.end()

    @staticmethod
    def _request_attributes(scope: Scope, method: str, path: str) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": path,
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
        server = scope.get("server")
        if server:
            attributes["server.address"], attributes["server.port"] = server[0], server[1]
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
        return attributes
