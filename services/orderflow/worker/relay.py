"""The outbox relay: one loop that schedules the worker's three outbox jobs.

- publish (``orderflow.worker.publisher``): every wake-up — PostgreSQL NOTIFY (sub-second
  latency), or the poll interval as a fallback — and again at once while full batches go out;
- resume stuck sagas (``orderflow.domain.orders.sweeper``): every half ``resume_after``;
- purge published events older than ``RETENTION`` (``orderflow.domain.outbox``): every
  ``PURGE_INTERVAL``.

A dependency outage (Redis or PostgreSQL down) is logged and retried with back-off; nothing is
lost meanwhile, the events wait in their table.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
import structlog
from opentelemetry.instrumentation.utils import suppress_instrumentation
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from orderflow.domain import outbox
from orderflow.domain.orders.sweeper import resume_stuck_sagas
from orderflow.worker.publisher import BATCH_SIZE, OutboxPublisher

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from dramatiq import Broker
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = structlog.get_logger(__name__)

MAX_BACKOFF_SECONDS = 5.0
RETENTION = timedelta(days=1)
PURGE_INTERVAL = timedelta(minutes=1)
DEPENDENCY_ERRORS = (RedisError, OSError, asyncpg.PostgresError, SQLAlchemyError)


async def wait_any(*events: asyncio.Event, timeout: float | None = None) -> None:  # noqa: ASYNC109
    """Return when any event is set, or after ``timeout`` seconds."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class Periodic:
    """A job run on the first pass, then at most once per ``interval``."""

    def __init__(self, interval: timedelta, job: Callable[[], Awaitable[object]]) -> None:
        self._interval = interval.total_seconds()
        self._job = job
        self._last: float | None = None

    async def run_if_due(self, now: float) -> None:
        if self._last is not None and now - self._last < self._interval:
            return
        self._last = now
        await self._job()


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
        self._publisher = OutboxPublisher(sessions, broker, queues)
        self._listen_dsn = listen_dsn
        self._poll = poll_seconds
        self._resume_after = resume_after
        self._orders_waiting = orders_waiting
        self._periodic = [
            Periodic(resume_after / 2, self.resume_stuck_sagas),
            Periodic(PURGE_INTERVAL, self.purge),
        ]
        self._wake = asyncio.Event()

    async def publish_batch(self) -> int:
        return await self._publisher.publish_batch()

    async def resume_stuck_sagas(self) -> int:
        # Pending orders count as stuck only when nothing waits in the orders queue: see
        # resume_stuck_sagas in orderflow.domain.orders.sweeper.
        idle = await asyncio.to_thread(self._orders_waiting) == 0
        async with self._sessions() as session:
            with suppress_instrumentation():
                return await resume_stuck_sagas(
                    session,
                    stuck_before=datetime.now(UTC) - self._resume_after,
                    include_pending=idle,
                )

    async def purge(self) -> int:
        async with self._sessions() as session:
            with suppress_instrumentation():
                return await outbox.purge_published(session, datetime.now(UTC) - RETENTION)

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

    async def _pass(self) -> int:
        """One round: publish a batch, then whatever periodic job is due; returns how many
        events were published."""
        published = await self.publish_batch()
        now = asyncio.get_running_loop().time()
        for job in self._periodic:
            await job.run_if_due(now)
        return published

    async def run(self, stop: asyncio.Event) -> None:
        listener = asyncio.create_task(self._listen(stop))
        backoff = self._poll
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    published = await self._pass()
                    backoff = self._poll
                except DEPENDENCY_ERRORS as exc:
                    # A dependency outage: keep the process (and its pending work) alive and
                    # retry with back-off; readiness gates say the worker is not useful now.
                    log.warning("outbox relay cannot publish yet", error=str(exc))
                    published = 0
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                if published == BATCH_SIZE:
                    continue  # more waiting: no sleep
                await wait_any(self._wake, stop, timeout=backoff)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
