"""The outbox relay: publishes committed outbox events to the broker, oldest first.

Woken by PostgreSQL NOTIFY (sub-second latency) and polling as a fallback. While Redis is down
events simply stay in the table and go out once it is back: an accepted order is never lost.
Publishing is at-least-once (a crash between enqueue and marking re-sends), which the
idempotent actors absorb. It also resumes sagas whose worker died mid-way.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
import structlog
from dramatiq import Message
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.propagate import extract
from redis.exceptions import RedisError
from sqlalchemy import String, and_, cast, delete, exists, select, update

from orderflow.db.models import Order, OutboxEvent
from orderflow.domain import outbox
from orderflow.domain.orders.service import PROCESS_ORDER_ACTOR
from orderflow.domain.orders.status import OrderStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from dramatiq import Broker
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = structlog.get_logger(__name__)

BATCH_SIZE = 100
MAX_BACKOFF_SECONDS = 5.0
RETENTION = timedelta(days=1)


async def wait_any(*events: asyncio.Event, timeout: float | None = None) -> None:  # noqa: ASYNC109
    """Return when any event is set, or after ``timeout`` seconds."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        broker: Broker,
        queues: dict[str, str],
        *,
        listen_dsn: str,
        poll_seconds: float,
        resume_after: timedelta,
        orders_waiting: Callable[[], int],
    ) -> None:
        self._sessions = sessions
        self._broker = broker
        self._queues = queues
        self._listen_dsn = listen_dsn
        self._poll = poll_seconds
        self._resume_after = resume_after
        self._orders_waiting = orders_waiting
        self._wake = asyncio.Event()

    def _message(self, event: OutboxEvent) -> Message[object]:
        return Message(
            queue_name=self._queues[event.actor],
            actor_name=event.actor,
            args=(),
            kwargs=dict(event.payload),
            options={"outbox_id": event.id},
        )

    def _enqueue(self, event: OutboxEvent) -> None:
        # Enqueue under the writer's trace context: the producer span joins that trace.
        token = otel_context.attach(extract(event.trace_context))
        try:
            self._broker.enqueue(self._message(event))
        finally:
            otel_context.detach(token)

    async def publish_batch(self) -> int:
        """Publish up to one batch; returns how many went out. Raises RedisError if the broker
        is unreachable (after committing what was published)."""
        async with self._sessions() as session:
            # The relay's own bookkeeping is not traced: polling every second would flood the
            # backend with root spans. What it publishes is traced, in each writer's trace.
            with suppress_instrumentation():
                events = list(
                    (
                        await session.scalars(
                            select(OutboxEvent)
                            .where(OutboxEvent.published_at.is_(None))
                            .order_by(OutboxEvent.id)
                            .limit(BATCH_SIZE)
                            .with_for_update(skip_locked=True)
                        )
                    ).all()
                )
            sent: list[int] = []
            try:
                for event in events:
                    # redis-py is blocking; a thread keeps the loop (and NOTIFY) responsive.
                    await asyncio.to_thread(self._enqueue, event)
                    sent.append(event.id)
            finally:
                with suppress_instrumentation():
                    if sent:
                        await session.execute(
                            update(OutboxEvent)
                            .where(OutboxEvent.id.in_(sent))
                            .values(published_at=datetime.now(UTC))
                        )
                    await session.commit()
            return len(sent)

    async def resume_stuck_sagas(self) -> int:
        """Re-queue orders left behind; the saga's idempotency makes a duplicate harmless.

        ``processing`` orders whose worker died mid-saga are always resumed. ``pending`` ones
        only when the orders queue is empty: then their message was lost (a Redis restart
        without persistence); while a backlog drains they are simply still queued, and
        re-queueing them would only grow the backlog.
        """
        cutoff = datetime.now(UTC) - self._resume_after
        statuses = [OrderStatus.PROCESSING]
        if await asyncio.to_thread(self._orders_waiting) == 0:
            statuses.append(OrderStatus.PENDING)
        with suppress_instrumentation():
            return await self._resume_stuck_sagas(cutoff, statuses)

    async def _resume_stuck_sagas(self, cutoff: datetime, statuses: list[OrderStatus]) -> int:
        async with self._sessions() as session:
            waiting = exists().where(
                and_(
                    OutboxEvent.published_at.is_(None),
                    OutboxEvent.actor == PROCESS_ORDER_ACTOR,
                    OutboxEvent.payload["order_id"].astext == cast(Order.id, String),
                )
            )
            stuck = list(
                (
                    await session.scalars(
                        select(Order.id)
                        .where(
                            Order.status.in_(statuses),
                            Order.updated_at < cutoff,
                            ~waiting,
                        )
                        .limit(BATCH_SIZE)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
            )
            for order_id in stuck:
                outbox.record(session, PROCESS_ORDER_ACTOR, order_id=str(order_id))
            if stuck:
                # Touch them so the next pass waits a full period before trying again.
                await session.execute(
                    update(Order).where(Order.id.in_(stuck)).values(updated_at=datetime.now(UTC))
                )
                log.warning("resuming stuck orders", count=len(stuck))
            await session.execute(
                delete(OutboxEvent).where(OutboxEvent.published_at < datetime.now(UTC) - RETENTION)
            )
            await session.commit()
            return len(stuck)

    async def _listen(self, stop: asyncio.Event) -> None:
        """Keep a LISTEN connection open; reconnect quietly, polling covers the gaps."""
        while not stop.is_set():
            try:
                conn = await asyncpg.connect(self._listen_dsn)
            except (OSError, asyncpg.PostgresError):
                await wait_any(stop, timeout=self._poll)
                continue
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _, lost=lost: lost.set())
            try:
                await conn.add_listener("outbox", lambda *_: self._wake.set())
                await wait_any(stop, lost)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()

    async def run(self, stop: asyncio.Event) -> None:
        listener = asyncio.create_task(self._listen(stop))
        backoff = self._poll
        last_resume = 0.0
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    published = await self.publish_batch()
                    if loop.time() - last_resume >= self._resume_after.total_seconds() / 2:
                        last_resume = loop.time()
                        await self.resume_stuck_sagas()
                    backoff = self._poll
                except (RedisError, OSError, asyncpg.PostgresError) as exc:
                    log.warning("outbox relay cannot publish yet", error=str(exc))
                    published = 0
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                if published == BATCH_SIZE:
                    continue  # more waiting: no sleep
                with contextlib.suppress(TimeoutError):
                    waker = asyncio.ensure_future(self._wake.wait())
                    stopper = asyncio.ensure_future(stop.wait())
                    await asyncio.wait(
                        {waker, stopper}, timeout=backoff, return_when="FIRST_COMPLETED"
                    )
                    waker.cancel()
                    stopper.cancel()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
