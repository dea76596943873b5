"""The trace shape every telemetry mode must produce, checked on what a Collector received:
the SDK set up by our entry points, ``opentelemetry-instrument`` (tests/integration), and the
OpenTelemetry Operator's injection on real pods (tests/e2e)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.collector import Span


def one_span(spans: list[Span], name: str, parent: Span | None = None) -> Span:
    matches = [s for s in spans if s.name == name]
    if parent is not None:
        matches = [s for s in matches if s.parent_span_id == parent.span_id]
    assert len(matches) == 1, f"{name}: {len(matches)} spans under {parent and parent.name}"
    return matches[0]


def assert_order_trace(spans: list[Span], *, paid: bool = True) -> None:
    """One `POST /api/orders` trace: a single root SERVER span named by the route template,
    through the outbox and the queue (PRODUCER -> CONSUMER) into the worker's saga, the
    notification and the email's HTTP call. ``paid`` is the order's outcome: a declined
    payment (the compensation path) has the same shape, with the charge marked failed."""
    server = one_span(spans, "POST /api/orders")
    assert server.kind == "SPAN_KIND_SERVER" and server.parent_span_id is None
    assert server.attributes["http.route"] == "/api/orders"
    assert server.attributes["http.response.status_code"] == 201
    assert server.service_name == "orderflow-api"

    create = one_span(spans, "order.create", server)
    reserve = one_span(spans, "stock.reserve", create)
    sql = [s for s in spans if s.parent_span_id in {create.span_id, reserve.span_id}]
    statements = [s for s in sql if "sqlalchemy" in s.scope]
    assert statements and all(s.attributes.get("db.system") == "postgresql" for s in statements)

    # outbox -> relay -> broker: the producer span continues the request's trace
    send_order = one_span(spans, "send orders", create)
    assert send_order.kind == "SPAN_KIND_PRODUCER"
    assert send_order.attributes["messaging.system"] == "dramatiq"
    assert send_order.attributes["messaging.destination.name"] == "orders"
    process_order = one_span(spans, "process orders", send_order)
    assert process_order.kind == "SPAN_KIND_CONSUMER"
    assert process_order.service_name == "orderflow-worker"
    assert process_order.attributes["messaging.dramatiq.actor"] == "process_order"

    saga = one_span(spans, "order.process", process_order)
    payment = one_span(spans, "payment.charge", saga)
    assert payment.attributes["payment.succeeded"] is paid
    enqueue = one_span(spans, "job.enqueue.notification", saga)
    notify = one_span(
        spans,
        "job.notification",
        one_span(spans, "process notifications", one_span(spans, "send notifications", enqueue)),
    )
    email_consumer = one_span(spans, "process email", one_span(spans, "send email", notify))
    email = one_span(spans, "email.send", email_consumer)
    [http_call] = [s for s in spans if s.parent_span_id == email.span_id and "httpx" in s.scope]
    assert http_call.name == "POST" and http_call.kind == "SPAN_KIND_CLIENT"
    # Every worker-side SQL statement hangs under a saga step, never as a root.
    assert all(s.parent_span_id for s in spans if s is not server)


def assert_no_duplicates_or_broker_polling(spans: list[Span]) -> None:
    """Over everything exported: one instrumentation per query (no asyncpg twin of a SQLAlchemy
    span, no pool checkouts), no root Redis spans (the broker's idle polling), no span twice."""
    scopes = {s.scope for s in spans}
    assert not any("asyncpg" in scope for scope in scopes), scopes
    redis_roots = [s for s in spans if "redis" in s.scope and s.parent_span_id is None]
    assert redis_roots == [], f"untraced Redis calls (broker polling?): {redis_roots[:3]}"
    assert not [s for s in spans if s.name == "connect"], "pool checkouts are not queries"
    ids = [s.span_id for s in spans]
    assert len(ids) == len(set(ids)), "a span was exported twice"
    # One span per query: no two DB spans share a parent, a statement and a start time.
    db = [
        (s.parent_span_id, s.attributes.get("db.statement"), s.start_time_unix_nano)
        for s in spans
        if s.attributes.get("db.system")
    ]
    assert len(db) == len(set(db))
