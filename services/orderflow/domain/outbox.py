"""Transactional outbox: record a job in the business transaction; a relay publishes it later.

The current trace context is stored with the event, so the job's spans continue the trace of
whatever wrote it (an HTTP request, or an earlier job).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.propagate import inject

from orderflow.db.models import OutboxEvent

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


def record(session: AsyncSession, actor: str, **payload: Any) -> OutboxEvent:
    """Add an event for ``actor`` to the session; it is published only if the caller commits."""
    carrier: dict[str, str] = {}
    inject(carrier)
    event = OutboxEvent(actor=actor, payload=payload, trace_context=carrier)
    session.add(event)
    return event
