"""The outbox's three jobs in-process: the publisher (to a real Redis broker in a namespace of
the test's own), the stuck-saga sweeper, the purge, and the relay loop that schedules them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker
from redis.exceptions import RedisError

from orderflow.cache import Cache
from orderflow.db.models import User
from orderflow.devservices import free_port
from orderflow.domain import outbox
from orderflow.domain.orders.service import PROCESS_ORDER_ACTOR, OrderLine, OrderService
from orderflow.domain.orders.sweeper import resume_stuck_sagas
from orderflow.worker.actors import QUEUES
from orderflow.worker.broker import ORDERS_QUEUE
from orderflow.worker.publisher import OutboxPublisher
from orderflow.worker.relay import OutboxRelay
from tests.domain.queries import events
from tests.support.database import Database
from tests.testbed.wait import holds_for, wait_until

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from orderflow.devservices import Redis

ACTOR = "send_email"  # any actor of the table; nothing consumes this test's namespace


@pytest.fixture
def broker(redis_server: Redis) -> Iterator[RedisBroker]:
    """A broker whose queues no worker consumes: what is published stays there to be read."""
    namespace = f"domain-{uuid.uuid4().hex[:8]}"
    real = RedisBroker(url=redis_server.url, namespace=namespace)  # type: ignore[no-untyped-call]
    yield real
    for key in real.client.scan_iter(f"{namespace}:*"):
        real.client.delete(key)
    real.close()


def published(broker: RedisBroker, queue: str) -> list[dramatiq.Message[object]]:
    """Messages waiting in one queue of the broker."""
    stored = broker.client.hgetall(f"{broker.namespace}:{queue}.msgs")
    # Dramatiq's client returns bytes (no decode_responses).
    return [dramatiq.Message.decode(raw) for raw in stored.values() if isinstance(raw, bytes)]


def sent(broker: RedisBroker, queue: str, ids: list[int]) -> list[int]:
    """Which of the events ``ids`` were published to ``queue``, once per message: the drained
    fixture may have published other tests' events into the same namespace first."""
    return sorted(
        int(m.options["outbox_id"])
        for m in published(broker, queue)
        if int(m.options["outbox_id"]) in ids
    )


@pytest.fixture
async def drained(
    sessions: async_sessionmaker[AsyncSession], broker: RedisBroker
) -> OutboxPublisher:
    """The publisher, once what other tests left unpublished is out of the way."""
    publisher = OutboxPublisher(sessions, broker, QUEUES)
    while await publisher.publish_batch():
        pass
    return publisher


async def record(sessions: async_sessionmaker[AsyncSession], count: int) -> list[int]:
    async with sessions() as session:
        written = [outbox.record(session, ACTOR, key=f"k{n}") for n in range(count)]
        await session.commit()
    return [event.id for event in written]


async def test_publisher_sends_each_committed_event_once_oldest_first(
    sessions: async_sessionmaker[AsyncSession],
    broker: RedisBroker,
    drained: OutboxPublisher,
    db: Database,
) -> None:
    ids = await record(sessions, 3)
    async with sessions() as session:  # never committed: never published
        outbox.record(session, ACTOR, key="rolled back")
        await session.rollback()
    assert await drained.publish_batch() == 3
    assert await drained.publish_batch() == 0
    assert sent(broker, QUEUES[ACTOR], ids) == ids
    messages = [m for m in published(broker, QUEUES[ACTOR]) if m.options["outbox_id"] in ids]
    assert {m.actor_name for m in messages} == {ACTOR}
    assert sorted(m.kwargs["key"] for m in messages) == ["k0", "k1", "k2"]
    unpublished = await db.value_async(
        "SELECT count(*) FROM outbox WHERE id = ANY($1) AND published_at IS NULL", ids
    )
    assert unpublished == 0


async def test_an_unreachable_broker_leaves_events_waiting(
    sessions: async_sessionmaker[AsyncSession], drained: OutboxPublisher, db: Database
) -> None:
    nowhere = RedisBroker(url=f"redis://127.0.0.1:{free_port()}/0")  # type: ignore[no-untyped-call]
    ids = await record(sessions, 2)
    with pytest.raises(RedisError):
        await OutboxPublisher(sessions, nowhere, QUEUES).publish_batch()
    unpublished = await db.value_async(
        "SELECT count(*) FROM outbox WHERE id = ANY($1) AND published_at IS NULL", ids
    )
    assert unpublished == 2
    assert await drained.publish_batch() == 2  # the broker is back: they go out


@pytest.fixture
async def old_order(
    sessions: async_sessionmaker[AsyncSession],
    cache: Cache,
    db: Database,
    make_product: Callable[..., Awaitable[str]],
    make_user: Callable[..., Awaitable[User]],
) -> Callable[[str], Awaitable[uuid.UUID]]:
    """An order left in ``status`` an hour ago, its saga event published long since."""

    async def create(status: str) -> uuid.UUID:
        async with sessions() as session:
            view = await OrderService(session, cache).create(
                (await make_user()).id, "c", [OrderLine(await make_product(), 1, 1000)]
            )
        await db.execute_async(
            "UPDATE orders SET status = $2, updated_at = now() - interval '1 hour' WHERE id = $1",
            view.id,
            status,
        )
        await db.execute_async(
            "UPDATE outbox SET published_at = now() - interval '1 hour'"
            " WHERE payload->>'order_id' = $1",
            str(view.id),
        )
        return view.id

    return create


STUCK_BEFORE = timedelta(minutes=30)


async def test_sweeper_requeues_a_processing_order_once_per_period(
    session: AsyncSession, db: Database, old_order: Callable[[str], Awaitable[uuid.UUID]]
) -> None:
    order_id = await old_order("processing")
    cutoff = datetime.now(UTC) - STUCK_BEFORE
    await resume_stuck_sagas(session, stuck_before=cutoff, include_pending=False)
    assert await events(db, PROCESS_ORDER_ACTOR, order_id=str(order_id)) == 2
    # Touched: the next pass waits a full period, and an unpublished event also holds it back.
    await resume_stuck_sagas(session, stuck_before=cutoff, include_pending=False)
    await db.execute_async("UPDATE orders SET updated_at = $2 WHERE id = $1", order_id, cutoff)
    await resume_stuck_sagas(session, stuck_before=datetime.now(UTC), include_pending=False)
    assert await events(db, PROCESS_ORDER_ACTOR, order_id=str(order_id)) == 2


async def test_sweeper_requeues_pending_orders_only_when_told_the_queue_is_idle(
    session: AsyncSession, db: Database, old_order: Callable[[str], Awaitable[uuid.UUID]]
) -> None:
    pending, done = await old_order("pending"), await old_order("confirmed")
    cutoff = datetime.now(UTC) - STUCK_BEFORE
    await resume_stuck_sagas(session, stuck_before=cutoff, include_pending=False)
    assert await events(db, PROCESS_ORDER_ACTOR, order_id=str(pending)) == 1
    await resume_stuck_sagas(session, stuck_before=cutoff, include_pending=True)
    assert await events(db, PROCESS_ORDER_ACTOR, order_id=str(pending)) == 2
    assert await events(db, PROCESS_ORDER_ACTOR, order_id=str(done)) == 1


async def test_purge_removes_only_events_published_before_the_cutoff(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, db: Database
) -> None:
    old, recent, waiting = await record(sessions, 3)
    await db.execute_async(
        "UPDATE outbox SET published_at = now() - interval '2 days' WHERE id = $1", old
    )
    await db.execute_async("UPDATE outbox SET published_at = now() WHERE id = $1", recent)
    assert await outbox.purge_published(session, datetime.now(UTC) - timedelta(days=1)) >= 1
    left = await db.fetch_async("SELECT id FROM outbox WHERE id = ANY($1)", [old, recent, waiting])
    assert sorted(row["id"] for row in left) == [recent, waiting]


@pytest.fixture
async def running_relay(
    sessions: async_sessionmaker[AsyncSession],
    broker: RedisBroker,
    drained: OutboxPublisher,
    domain_url: str,
) -> AsyncIterator[None]:
    relay = OutboxRelay(
        sessions,
        broker,
        QUEUES,
        listen_dsn=domain_url,
        poll_seconds=0.2,
        resume_after=timedelta(hours=1),
        orders_waiting=lambda: int(broker.client.llen(f"{broker.namespace}:{ORDERS_QUEUE}")),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    yield
    stop.set()
    await asyncio.wait_for(task, timeout=10)


async def test_the_relay_loop_publishes_what_commits_and_nothing_twice(
    sessions: async_sessionmaker[AsyncSession], broker: RedisBroker, running_relay: None
) -> None:
    ids = await record(sessions, 2)

    def once_each() -> bool:
        return sent(broker, QUEUES[ACTOR], ids) == ids

    await asyncio.to_thread(wait_until, once_each, timeout=10, what="the events published")
    # Many polls later, still once each.
    assert await asyncio.to_thread(holds_for, once_each, duration=1.5, interval=0.1)
