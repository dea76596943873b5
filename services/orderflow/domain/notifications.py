"""Order notifications: compose once, deliver at least once, with an idempotency key so the
provider can drop duplicates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from orderflow.db.models import Notification, Order, User
from orderflow.domain import outbox
from orderflow.domain.telemetry import tracer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

SEND_EMAIL_ACTOR = "send_email"


class EmailSender(Protocol):
    async def __call__(self, *, key: str, recipient: str, subject: str, body: str) -> None:
        """Deliver one email; raise on failure so the job is retried."""


async def compose(session: AsyncSession, order_id: uuid.UUID) -> str | None:
    """Write the email for the order's current outcome and queue its delivery; returns its key
    (None when the order no longer exists)."""
    with tracer.start_as_current_span("job.notification") as span:
        row = (
            await session.execute(
                select(Order.status, Order.total_cents, User.email, User.username)
                .join(User, User.id == Order.user_id)
                .where(Order.id == order_id)
            )
        ).one_or_none()
        if row is None:
            return None
        status, total, email, username = row
        key = f"order:{order_id}:{status}"
        span.set_attribute("notification.key", key)
        created = await session.scalar(
            insert(Notification)
            .values(
                key=key,
                recipient=email,
                subject=f"Your order {order_id} is {status}",
                body=f"Hello {username}, your order of {total / 100:.2f} is {status}.",
            )
            .on_conflict_do_nothing()
            .returning(Notification.key)
        )
        if created is not None:  # a duplicate message must not queue a second delivery
            outbox.record(session, SEND_EMAIL_ACTOR, key=key)
        await session.commit()
        return key


async def deliver(session: AsyncSession, key: str, send: EmailSender) -> bool:
    """Send the email unless it was sent; returns whether a send happened."""
    with tracer.start_as_current_span("email.send") as span:
        span.set_attribute("notification.key", key)
        note = await session.get(Notification, key)
        if note is None or note.sent_at is not None:
            span.set_attribute("email.skipped", True)
            return False
        await send(key=key, recipient=note.recipient, subject=note.subject, body=note.body)
        await session.execute(
            update(Notification).where(Notification.key == key).values(sent_at=datetime.now(UTC))
        )
        await session.commit()
        return True
