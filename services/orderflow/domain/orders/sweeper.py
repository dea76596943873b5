"""Stuck sagas: orders the saga should have moved by now are queued for it again.

Delivery can lose a message (a Redis restart without persistence) or a worker can die
mid-saga; the broker's own redelivery of an unacknowledged message can take minutes on a quiet
queue. Re-queueing through the outbox is safe because every saga step is idempotent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import String, and_, cast, exists, select, update

from orderflow.db.models import Order, OutboxEvent
from orderflow.domain import outbox
from orderflow.domain.orders.service import PROCESS_ORDER_ACTOR
from orderflow.domain.orders.status import OrderStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

log = structlog.get_logger(__name__)

BATCH_SIZE = 100


async def resume_stuck_sagas(
    session: AsyncSession, *, stuck_before: datetime, include_pending: bool
) -> int:
    """Queue the saga again for orders untouched since ``stuck_before``; returns how many.

    ``processing`` orders (their worker died mid-saga) are always resumed. ``pending`` ones only
    when the caller says so: when the orders queue is empty their message was lost, while a
    backlog drains they are simply still queued and re-queueing them would only grow it.
    Orders with an unpublished saga event are skipped (the relay will publish it), and resumed
    orders are touched so the next pass waits a full period before trying them again. Commits.
    """
    statuses = [OrderStatus.PROCESSING]
    if include_pending:
        statuses.append(OrderStatus.PENDING)
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
                .where(Order.status.in_(statuses), Order.updated_at < stuck_before, ~waiting)
                .limit(BATCH_SIZE)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )
    for order_id in stuck:
        outbox.record(session, PROCESS_ORDER_ACTOR, order_id=str(order_id))
    if stuck:
        await session.execute(
            update(Order).where(Order.id.in_(stuck)).values(updated_at=datetime.now(UTC))
        )
        log.warning("resuming stuck orders", count=len(stuck))
    await session.commit()
    return len(stuck)
