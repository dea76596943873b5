"""The order saga under failure: declined payments, a Redis outage, duplicate delivery, a worker
killed mid-job, and an email provider that keeps failing."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import redis

from orderflow.devservices import Redis
from tests.integration.conftest import WorkerControl
from tests.integration.test_orders import place, status_of
from tests.support.api_client import register
from tests.support.database import Database
from tests.support.email_sink import RecordingEmailSink
from tests.support.processes import wait_until
from tests.testbed.wait import holds_for


def stock(db: Database, item: str) -> tuple[int, int]:
    row = db.fetch("SELECT available, reserved FROM products WHERE id = $1", item)[0]
    return row["available"], row["reserved"]


def settled_once(
    db: Database, sink: RecordingEmailSink, order_id: str, item: str, stock_after: tuple[int, int]
) -> bool:
    """Exactly once in effect: one stock movement, one payment decision, one email."""
    return (
        stock(db, item) == stock_after
        and db.value("SELECT count(*) FROM payments WHERE order_id = $1::uuid", order_id) == 1
        and len(sink.for_order(order_id)) == 1
    )


def test_declined_payment_compensates_by_releasing_stock(
    client: httpx.Client,
    make_product: Callable[..., str],
    worker: WorkerControl,
    email_sink: RecordingEmailSink,
    db: Database,
) -> None:
    worker.start(PAYMENT_FAILURE_RATE="1.0")
    account = register(client)
    item = make_product(available=3)
    order_id = place(client, account, item, quantity=2).json()["id"]
    assert stock(db, item) == (1, 2)
    wait_until(lambda: status_of(client, account, order_id) == "failed")
    assert stock(db, item) == (3, 0)
    wait_until(lambda: len(email_sink.for_order(order_id)) == 1)
    assert "failed" in email_sink.for_order(order_id)[0]["subject"]


def test_order_accepted_during_redis_outage_is_processed_after(
    client: httpx.Client,
    make_product: Callable[..., str],
    worker: WorkerControl,
    redis_server: Redis,
    db: Database,
) -> None:
    account = register(client)
    item = make_product(available=5)
    client.get(f"/api/stock/{item}")  # warm the cache, so the outage hits a cached read too
    redis_server.stop(remove=False)
    try:
        # Reads fall back to the database; writes do not need Redis at all.
        assert client.get(f"/api/stock/{item}").json()["available"] == 5
        created = place(client, account, item)
        assert created.status_code == 201, created.text
        order_id = created.json()["id"]
        # The relay keeps trying meanwhile; nothing may be lost.
        assert holds_for(lambda: status_of(client, account, order_id) == "pending", duration=2)
        assert db.value("SELECT count(*) FROM outbox WHERE published_at IS NULL") >= 1
    finally:
        redis_server.start()
    wait_until(lambda: status_of(client, account, order_id) == "confirmed", timeout=30)
    assert stock(db, item) == (4, 0)


def test_duplicate_delivery_changes_nothing(
    client: httpx.Client,
    make_product: Callable[..., str],
    worker: WorkerControl,
    email_sink: RecordingEmailSink,
    db: Database,
) -> None:
    account = register(client)
    item = make_product(available=5)
    order_id = place(client, account, item, quantity=2).json()["id"]
    wait_until(lambda: len(email_sink.for_order(order_id)) == 1)
    key = f"order:{order_id}:confirmed"
    # Deliver every message of this order's saga twice more, as an at-least-once broker may.
    for _ in range(2):
        db.execute(
            "INSERT INTO outbox (actor, payload, trace_context) VALUES"
            " ('process_order', $1::jsonb, '{}'), ('send_notification', $1::jsonb, '{}'),"
            " ('send_email', $2::jsonb, '{}')",
            json.dumps({"order_id": order_id}),
            json.dumps({"key": key}),
        )
    wait_until(lambda: db.value("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0)
    # The duplicates were published; while the worker runs them, nothing may change.
    assert holds_for(
        lambda: (
            status_of(client, account, order_id) == "confirmed"
            and settled_once(db, email_sink, order_id, item, (3, 0))
        ),
        duration=1.5,
    )


def test_worker_killed_mid_job_completes_exactly_once(
    client: httpx.Client,
    make_product: Callable[..., str],
    worker: WorkerControl,
    email_sink: RecordingEmailSink,
    db: Database,
) -> None:
    slow = worker.start(PAYMENT_LATENCY_MS="4000")
    account = register(client)
    item = make_product(available=5, price=700)
    order_id = place(client, account, item, quantity=2, price=700).json()["id"]
    wait_until(lambda: status_of(client, account, order_id) == "processing")
    slow.kill()  # SIGKILL: no cleanup, no ack
    assert status_of(client, account, order_id) == "processing"
    worker.start()
    wait_until(lambda: status_of(client, account, order_id) == "confirmed", timeout=60)
    wait_until(lambda: len(email_sink.for_order(order_id)) >= 1)
    assert holds_for(lambda: settled_once(db, email_sink, order_id, item, (3, 0)), duration=1)


def test_exhausted_retries_land_in_the_dead_letter_queue(
    client: httpx.Client,
    make_product: Callable[..., str],
    worker: WorkerControl,
    email_sink: RecordingEmailSink,
    redis_server: Redis,
    db: Database,
) -> None:
    broker = redis.Redis(port=redis_server.port)
    dead_before = broker.zcard("dramatiq:email.XQ")
    email_sink.fail_with = 503
    try:
        account = register(client)
        order_id = place(client, account, make_product()).json()["id"]
        # 1 try + 3 retries at 100-500 ms backoff, then the message is dead-lettered.
        wait_until(lambda: broker.zcard("dramatiq:email.XQ") == dead_before + 1, timeout=30)
    finally:
        email_sink.fail_with = None
    assert status_of(client, account, order_id) == "confirmed"
    assert email_sink.for_order(order_id) == []
    unsent = db.value(
        "SELECT count(*) FROM notifications WHERE key = $1 AND sent_at IS NULL",
        f"order:{order_id}:confirmed",
    )
    assert unsent == 1


def test_without_an_email_provider_orders_settle_and_nothing_is_sent(
    client: httpx.Client,
    make_product: Callable[..., str],
    worker: WorkerControl,
    email_sink: RecordingEmailSink,
    redis_server: Redis,
    db: Database,
) -> None:
    """The chart's shipped values name no provider: the email job finishes (no retry, no
    dead letter that would page someone), nothing is posted, and the log keeps no recipient."""
    broker = redis.Redis(port=redis_server.port)
    dead_before = broker.zcard("dramatiq:email.XQ")
    process = worker.start(EMAIL_SINK_URL="")
    account = register(client)
    order_id = place(client, account, make_product()).json()["id"]
    wait_until(lambda: status_of(client, account, order_id) == "confirmed")
    key = f"order:{order_id}:confirmed"
    wait_until(lambda: key in process.log() and "no provider configured" in process.log())
    assert holds_for(lambda: email_sink.for_order(order_id) == [], duration=1.0)
    assert broker.zcard("dramatiq:email.XQ") == dead_before
    assert db.value("SELECT count(*) FROM notifications WHERE key = $1 AND sent_at IS NULL", key)
    assert account.email not in process.log()
