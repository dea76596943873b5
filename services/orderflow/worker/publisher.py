"""Publishing committed outbox events to the broker, oldest first, one batch at a time.

Publishing is at-least-once (a crash between enqueue and marking re-sends), which the
idempotent actors absorb. While Redis is down events simply stay in the table.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dramatiq import Message
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.propagate import extract
from sqlalchemy import select, update

from orderflow.db.models import OutboxEvent

if TYPE_CHECKING:
    from dramatiq import Broker
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

BATCH_SIZE = 100


class OutboxPublisher:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], broker: Broker, queues: dict[str, str]
    ) -> None:
        self._sessions = sessions
        self._broker = broker
        self._queues = queues

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
