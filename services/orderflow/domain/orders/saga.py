"""The order saga, run by the worker: charge, then confirm; or compensate by releasing stock.

Delivery is at-least-once, so each step is idempotent and guarded by a compare-and-set on the
order's status: a redelivered or duplicated message, or one whose worker died half-way, repeats
only what did not happen yet.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from orderflow.db.models import Order, OrderItem, Payment
from orderflow.domain import outbox
from orderflow.domain.catalog import stock
from orderflow.domain.catalog.service import stock_keys
from orderflow.domain.orders.status import OrderStatus
from orderflow.domain.telemetry import meter, tracer

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from orderflow.cache import Cache

log = structlog.get_logger(__name__)

SEND_NOTIFICATION_ACTOR = "send_notification"

_revenue = meter.create_counter(
    "orders.revenue", unit="{cent}", description="Value of confirmed orders, in cents"
)
_settled = meter.create_counter(
    "orders.settled", unit="{order}", description="Orders the saga finished, by outcome"
)


class OrderSaga:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cache: Cache,
        payment_failure_rate: float,
        payment_latency_seconds: float = 0.0,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self._sessions = sessions
        self._cache = cache
        self._failure_rate = payment_failure_rate
        self._chance = chance
        self._latency = payment_latency_seconds

    async def process(self, order_id: uuid.UUID) -> OrderStatus:
        """Drive one order to confirmed or failed; returns the order's status afterwards."""
        with tracer.start_as_current_span("order.process") as span:
            span.set_attribute("order.id", str(order_id))
            async with self._sessions() as session:
                status = await self._start(session, order_id)
            if status is not OrderStatus.PROCESSING:
                span.set_attribute("order.skipped", True)
                return status
            async with self._sessions() as session:
                paid = await self._charge(session, order_id)
            async with self._sessions() as session:
                status = await self._finish(session, order_id, paid)
            span.set_attribute("order.status", str(status))
            return status

    async def _start(self, session: AsyncSession, order_id: uuid.UUID) -> OrderStatus:
        await session.execute(
            update(Order)
            .where(Order.id == order_id, Order.status == OrderStatus.PENDING)
            .values(status=OrderStatus.PROCESSING)
        )
        await session.commit()
        status = await session.scalar(select(Order.status).where(Order.id == order_id))
        # A missing order (deleted user) is treated as done: retrying would never help.
        return OrderStatus(status) if status else OrderStatus.CANCELLED

    async def _charge(self, session: AsyncSession, order_id: uuid.UUID) -> bool:
        with tracer.start_as_current_span("payment.charge") as span:
            total = await session.scalar(select(Order.total_cents).where(Order.id == order_id))
            if self._latency:  # the simulated provider's round trip
                await asyncio.sleep(self._latency)
            # The first decision is stored; a repeated charge reads it instead of deciding again.
            await session.execute(
                insert(Payment)
                .values(
                    order_id=order_id,
                    succeeded=self._chance() >= self._failure_rate,
                    amount_cents=total or 0,
                )
                .on_conflict_do_nothing()
            )
            await session.commit()
            succeeded = bool(
                await session.scalar(select(Payment.succeeded).where(Payment.order_id == order_id))
            )
            span.set_attributes({"payment.succeeded": succeeded, "payment.amount": total or 0})
            return succeeded

    async def _finish(self, session: AsyncSession, order_id: uuid.UUID, paid: bool) -> OrderStatus:
        target = OrderStatus.CONFIRMED if paid else OrderStatus.FAILED
        moved = await session.scalar(
            update(Order)
            .where(Order.id == order_id, Order.status == OrderStatus.PROCESSING)
            .values(status=target)
            .returning(Order.total_cents)
        )
        if moved is None:  # someone else finished it (a duplicate message got there first)
            status = await session.scalar(select(Order.status).where(Order.id == order_id))
            return OrderStatus(status) if status else OrderStatus.CANCELLED
        items = list(
            (await session.scalars(select(OrderItem).where(OrderItem.order_id == order_id))).all()
        )
        for item in items:
            if paid:
                await stock.settle(session, item.item_id, item.quantity)
            else:  # compensation: the reservation goes back on the shelf
                await stock.release(session, item.item_id, item.quantity)
        with tracer.start_as_current_span("job.enqueue.notification"):
            outbox.record(session, SEND_NOTIFICATION_ACTOR, order_id=str(order_id))
        await session.commit()
        _settled.add(1, {"outcome": str(target)})
        log.info("order settled", order_id=str(order_id), status=str(target))
        if paid:
            _revenue.add(moved)
        await self._cache.invalidate(*stock_keys(i.item_id for i in items))
        return target
