"""OpenTelemetry tracing for Dramatiq, as a broker middleware.

There is no official Dramatiq instrumentation. This one follows the messaging semantic
conventions and Dramatiq's own contracts:

* **PRODUCER** span ``send <queue>`` when a message is enqueued, and the W3C context (the
  producer span's) written into ``message.options["otel"]`` — options are the only part of a
  message that travels and persists, so they are the carrier. The span is ended inside
  ``before_enqueue``: Dramatiq does not call ``after_enqueue`` when enqueueing fails, and a span
  that waits for it could leak.
* **CONSUMER** span ``process <queue>`` around every delivery, a child of the producer's
  context, attached for the whole actor run. ``before_process_message``, the actor and
  ``after_process_message``/``after_skip_message`` run in the same worker thread, so the
  attach/detach pair is balanced; async actors see the context too, because Dramatiq's event
  loop thread runs their coroutine in a copy of the worker thread's context.
* **Retries stay in the trace**: the Retries middleware re-enqueues from inside the failed
  delivery, so the retry's producer span is a child of the failed consumer span; when the
  delay expires Dramatiq enqueues it again from a thread with no active span, and that send
  continues the context the message already carries.
* Errors are recorded on the consumer span and set its status; the context is always
  detached, whatever happened.

Put it *before* Dramatiq's ``Retries`` in the middleware list: Dramatiq runs ``after_*`` hooks
in reverse order, so Retries then re-enqueues while our consumer span is still current.

``DramatiqInstrumentor`` is the instrumentation's front door, shaped like the contrib ones: it
puts the middleware first on every broker created after ``instrument()``, and it is registered
as the ``dramatiq`` entry point of ``opentelemetry_instrumentor`` (pyproject.toml), so zero-code
mode (``opentelemetry-instrument``, the OpenTelemetry Operator's injection) finds it the way it
finds the contrib instrumentations, and ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=dramatiq``
turns it off.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

from dramatiq import Middleware
from dramatiq.broker import Broker
from dramatiq.common import q_name
from opentelemetry import context, propagate, trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.trace import SpanKind, Status, StatusCode

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from dramatiq import Message
    from dramatiq.broker import MessageProxy
    from opentelemetry.trace import Span, TracerProvider

OPTIONS_KEY = "otel"
SYSTEM = "dramatiq"


class OpenTelemetryMiddleware(Middleware):
    """Producer and consumer spans for every Dramatiq message."""

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        # One delivery at a time per worker thread: a thread-local holds its span and token.
        self._local = threading.local()

    def _attributes(self, message: Message[Any] | MessageProxy, operation: str) -> dict[str, Any]:
        return {
            "messaging.system": SYSTEM,
            "messaging.operation.type": operation,
            "messaging.operation.name": operation,
            # A delayed message is routed through "<queue>.DQ": report the queue it is for.
            "messaging.destination.name": q_name(message.queue_name),
            "messaging.message.id": message.message_id,
            "messaging.dramatiq.actor": message.actor_name,
            "messaging.dramatiq.retries": message.options.get("retries", 0),
        }

    def before_enqueue(self, broker: Broker, message: Message[Any], delay: int) -> None:
        attributes = self._attributes(message, "send")
        if delay:
            attributes["messaging.dramatiq.delay_ms"] = delay
        parent = None  # the current context: whoever is sending
        if not trace.get_current_span().get_span_context().is_valid:
            # Dramatiq moves due delayed messages (retries, `delay=`) back to their queue from
            # its consumer thread, where no span is current: continue the message's own trace.
            carried = message.options.get(OPTIONS_KEY)
            if carried:
                parent = propagate.extract(carried)
        with self._tracer.start_as_current_span(
            f"send {q_name(message.queue_name)}",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes=attributes,
        ):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
        # Replace (never nest) the carrier, so a retry carries the context of the try that
        # failed, and other middleware's options are left exactly as they were.
        message.options[OPTIONS_KEY] = carrier

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        parent = propagate.extract(message.options.get(OPTIONS_KEY) or {})
        span = self._tracer.start_span(
            f"process {q_name(message.queue_name)}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=self._attributes(message, "process"),
        )
        token = context.attach(trace.set_span_in_context(span, parent))
        self._local.active = (span, token)

    def _finish(self, exception: BaseException | None) -> None:
        active: tuple[Span, object] | None = getattr(self._local, "active", None)
        if active is None:
            return
        self._local.active = None
        span, token = active
        try:
            if exception is not None:
                span.record_exception(exception)
                span.set_status(Status(StatusCode.ERROR, type(exception).__name__))
            span.end()
        finally:
            context.detach(token)  # type: ignore[arg-type]

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        self._finish(exception)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        active = getattr(self._local, "active", None)
        if active is not None:
            active[0].set_attribute("messaging.dramatiq.skipped", True)
        self._finish(None)


class DramatiqInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Adds ``OpenTelemetryMiddleware`` first to every Dramatiq broker created afterwards.

    First, because Dramatiq runs ``after_*`` hooks in reverse order: the consumer span must
    still be current when Retries re-enqueues a failure (see the module docstring). Brokers that
    already exist are left alone, as the contrib instrumentations leave existing clients.
    """

    _original_init: Callable[..., None] | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("dramatiq >= 1.17",)

    def _instrument(self, **kwargs: Any) -> None:
        tracer_provider: TracerProvider | None = kwargs.get("tracer_provider")
        original = Broker.__init__
        self._original_init = original

        @functools.wraps(original)
        def init(broker: Broker, *args: Any, **init_kwargs: Any) -> None:
            original(broker, *args, **init_kwargs)
            middleware = OpenTelemetryMiddleware(tracer_provider)
            if broker.middleware:
                broker.add_middleware(middleware, before=type(broker.middleware[0]))
            else:
                broker.add_middleware(middleware)

        Broker.__init__ = init  # type: ignore[method-assign, assignment]

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._original_init is not None:
            Broker.__init__ = self._original_init  # type: ignore[method-assign]
            self._original_init = None
