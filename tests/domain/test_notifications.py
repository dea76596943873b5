"""Order emails: composed once per outcome, delivered through the real HTTP client to a
recording provider, at most once per key however often the jobs run."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from orderflow.db.models import User
from orderflow.domain import notifications
from orderflow.domain.notifications import SEND_EMAIL_ACTOR
from orderflow.domain.orders.service import OrderLine, OrderService
from orderflow.worker.email import HttpEmailSender
from tests.domain.queries import events
from tests.support.database import Database
from tests.support.email_sink import RecordingEmailSink

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from orderflow.cache import Cache


@pytest.fixture(scope="module")
def sink() -> Iterator[RecordingEmailSink]:
    recording = RecordingEmailSink().start()
    yield recording
    recording.stop()


@pytest.fixture
def sender(sink: RecordingEmailSink) -> HttpEmailSender:
    """The worker's own client (it lives as long as its process: nothing to close)."""
    return HttpEmailSender(sink.url, timeout_seconds=5)


@pytest.fixture
async def confirmed_order(
    sessions: async_sessionmaker[AsyncSession],
    cache: Cache,
    db: Database,
    make_product: Callable[..., Awaitable[str]],
    make_user: Callable[..., Awaitable[User]],
) -> uuid.UUID:
    async with sessions() as session:
        view = await OrderService(session, cache).create(
            (await make_user()).id, "c", [OrderLine(await make_product(price=1250), 2, 1250)]
        )
    await db.execute_async("UPDATE orders SET status = 'confirmed' WHERE id = $1", view.id)
    return view.id


async def test_compose_twice_writes_one_email_and_queues_one_delivery(
    session: AsyncSession, db: Database, confirmed_order: uuid.UUID
) -> None:
    key = await notifications.compose(session, confirmed_order)
    assert key == f"order:{confirmed_order}:confirmed"
    assert await notifications.compose(session, confirmed_order) == key
    rows = await db.fetch_async("SELECT subject, body FROM notifications WHERE key = $1", key)
    assert len(rows) == 1
    assert rows[0]["subject"] == f"Your order {confirmed_order} is confirmed"
    assert "25.00" in rows[0]["body"]
    assert await events(db, SEND_EMAIL_ACTOR, key=key) == 1


async def test_compose_for_a_missing_order_is_done(session: AsyncSession) -> None:
    assert await notifications.compose(session, uuid.uuid4()) is None


async def test_deliver_sends_once_with_the_idempotency_key(
    session: AsyncSession,
    db: Database,
    confirmed_order: uuid.UUID,
    sink: RecordingEmailSink,
    sender: HttpEmailSender,
) -> None:
    key = await notifications.compose(session, confirmed_order)
    assert key is not None
    assert await notifications.deliver(session, key, sender)
    assert not await notifications.deliver(session, key, sender)  # a redelivered job
    assert sink.keys[key] == 1
    [delivery] = sink.for_order(str(confirmed_order))
    assert delivery["headers"]["Idempotency-Key"] == key
    sent_at = await db.value_async("SELECT sent_at FROM notifications WHERE key = $1", key)
    assert sent_at is not None


async def test_a_failed_send_stays_unsent_and_the_retry_delivers(
    session: AsyncSession,
    db: Database,
    confirmed_order: uuid.UUID,
    sink: RecordingEmailSink,
    sender: HttpEmailSender,
) -> None:
    key = await notifications.compose(session, confirmed_order)
    assert key is not None
    sink.fail_with = 503
    try:
        with pytest.raises(httpx.HTTPStatusError, match="503"):
            await notifications.deliver(session, key, sender)
    finally:
        sink.fail_with = None
    await session.rollback()
    assert await db.value_async("SELECT sent_at FROM notifications WHERE key = $1", key) is None
    assert await notifications.deliver(session, key, sender)
    assert sink.keys[key] == 1


async def test_deliver_of_an_unknown_key_sends_nothing(
    session: AsyncSession, sink: RecordingEmailSink, sender: HttpEmailSender
) -> None:
    before = len(sink.deliveries)
    assert not await notifications.deliver(session, "order:none:confirmed", sender)
    assert len(sink.deliveries) == before
