"""Transactional outbox: record a job in the business transaction; the worker's relay
(``orderflow.worker.relay``) publishes it later and purges what was published long ago.

The current trace context is stored with the event, so the job's spans continue the trace of
whatever wrote it (an HTTP request, or an earlier job).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.propagate import inject
from sqlalchemy import delete

from orderflow.db.models import OutboxEvent

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession


def record(session: AsyncSession, actor: str, **payload: Any) -> OutboxEvent:
    """Add an event for ``actor`` to the session; it is published only if the caller commits."""
    carrier: dict[str, str] = {}
    inject(carrier)
    event = OutboxEvent(actor=actor, payload=payload, trace_context=carrier)
    session.add(event)
    return event


async def purge_published(session: AsyncSession, published_before: datetime) -> int:
    """Delete events published before ``published_before``; returns how many. Commits.

    Published rows are kept for a while only as a record for debugging; nothing reads them."""
    result = await session.execute(
        delete(OutboxEvent).where(OutboxEvent.published_at < published_before)
    )
    await session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
