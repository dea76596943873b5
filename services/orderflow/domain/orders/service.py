"""Placing and reading orders. Creation reserves stock and records the saga's outbox event in
the same transaction: an accepted order is never lost, whatever happens to Redis."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import msgspec
import structlog
from sqlalchemy import select, update

from orderflow.db.models import Order, OrderItem, Product
from orderflow.domain import outbox
from orderflow.domain.catalog import reservations, stock
from orderflow.domain.catalog.service import stock_keys
from orderflow.domain.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from orderflow.domain.orders.status import SAGA_OWNED, STAFF_ONLY, OrderStatus, can_transition
from orderflow.domain.orders.views import OrderView, order_view
from orderflow.domain.telemetry import meter, tracer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from orderflow.cache import Cache

log = structlog.get_logger(__name__)

PROCESS_ORDER_ACTOR = "process_order"
MAX_LINES = 100
_BIGINT_MAX = 2**63 - 1  # orders.total_cents

_orders_created = meter.create_counter(
    "orders.created", unit="{order}", description="Orders accepted by the API"
)


class OrderLine(msgspec.Struct, frozen=True):
    item_id: str
    quantity: int
    price: int
    reservation_id: uuid.UUID | None = None
    """The owner's reservation this line takes over (its units, not new ones)."""


class OrderService:
    def __init__(self, session: AsyncSession, cache: Cache) -> None:
        self._session = session
        self._cache = cache

    async def create(self, user_id: int, customer_id: str, lines: list[OrderLine]) -> OrderView:
        with tracer.start_as_current_span("order.create") as span:
            if not lines:
                raise InvalidInputError("an order needs at least one item")
            if len(lines) > MAX_LINES:
                raise InvalidInputError(f"an order has at most {MAX_LINES} lines")
            merged: dict[str, OrderLine] = {}
            for line in lines:
                if line.quantity <= 0 or line.price < 0:
                    raise InvalidInputError("quantity must be positive and price non-negative")
                if line.item_id in merged:
                    raise InvalidInputError(f"item {line.item_id!r} appears twice")
                merged[line.item_id] = line
            # Reserve in key order so two orders over the same items cannot deadlock.
            ordered = [merged[k] for k in sorted(merged)]
            await self._check_prices(ordered)
            total = sum(line.quantity * line.price for line in ordered)
            if total > _BIGINT_MAX:
                raise InvalidInputError("the order total is too large")
            # Claimed reservations first: they lock no stock row, so products are still locked
            # in key order below (a sweeper holding reservations never waits on this order).
            held = {
                line.item_id: await reservations.claim(
                    self._session, line.reservation_id, user_id, line.item_id
                )
                for line in ordered
                if line.reservation_id is not None
            }
            for line in ordered:
                with tracer.start_as_current_span("stock.reserve") as reserve_span:
                    reserve_span.set_attributes(
                        {"stock.item_id": line.item_id, "stock.quantity": line.quantity}
                    )
                    more = line.quantity - held.get(line.item_id, 0)
                    if more > 0:
                        await stock.reserve(self._session, line.item_id, more)
                    elif more < 0:  # a reservation larger than the line: the rest goes back
                        await stock.release(self._session, line.item_id, -more)
            order = Order(
                id=uuid.uuid4(),
                user_id=user_id,
                customer_id=customer_id,
                status=OrderStatus.PENDING,
                total_cents=total,
            )
            items = [
                OrderItem(item_id=line.item_id, quantity=line.quantity, price_cents=line.price)
                for line in ordered
            ]
            order.items = items
            self._session.add(order)
            outbox.record(self._session, PROCESS_ORDER_ACTOR, order_id=str(order.id))
            await self._session.commit()
            span.set_attributes({"order.id": str(order.id), "order.total": order.total_cents})
            _orders_created.add(1)
            log.info("order placed", order_id=str(order.id), total=order.total_cents)
            await self._cache.invalidate(*stock_keys(merged))
            return order_view(order, items)

    async def _check_prices(self, lines: list[OrderLine]) -> None:
        rows = await self._session.execute(
            select(Product.id, Product.price_cents).where(
                Product.id.in_([line.item_id for line in lines])
            )
        )
        prices = dict(rows.tuples().all())
        for line in lines:
            if line.item_id not in prices:
                raise NotFoundError(f"item {line.item_id!r} not found")
            if prices[line.item_id] != line.price:
                raise ConflictError(
                    f"price of {line.item_id!r} is {prices[line.item_id]}, not {line.price}"
                )

    async def _owned(self, order_id: uuid.UUID, user_id: int, *, staff: bool = False) -> Order:
        order = await self._session.get(Order, order_id)
        # Someone else's order answers like a missing one: ids are not confirmed to strangers.
        # Staff see every order: fulfilment works on all of them.
        if order is None or (order.user_id != user_id and not staff):
            raise NotFoundError(f"order {order_id} not found")
        return order

    async def _items(self, order_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[OrderItem]]:
        grouped: dict[uuid.UUID, list[OrderItem]] = {i: [] for i in order_ids}
        if order_ids:
            rows = await self._session.scalars(
                select(OrderItem).where(OrderItem.order_id.in_(order_ids)).order_by(OrderItem.id)
            )
            for item in rows:
                grouped[item.order_id].append(item)
        return grouped

    async def get(self, order_id: uuid.UUID, user_id: int, *, staff: bool = False) -> OrderView:
        order = await self._owned(order_id, user_id, staff=staff)
        return order_view(order, (await self._items([order.id]))[order.id])

    async def _list_orders(self, user_id: int, limit: int, offset: int) -> list[Order]:
        return list(
            (
                await self._session.scalars(
                    select(Order)
                    .where(Order.user_id == user_id)
                    .order_by(Order.created_at.desc(), Order.id)
                    .limit(limit)
                    .offset(offset)
                )
            ).all()
        )

    async def list_recent(self, user_id: int, limit: int, offset: int) -> list[OrderView]:
        orders = await self._list_orders(user_id, limit, offset)
        items = await self._items([o.id for o in orders])
        return [order_view(o, items[o.id]) for o in orders]

    async def list_nplus1(self, user_id: int, limit: int, offset: int) -> list[OrderView]:
        """Same result as ``list_recent`` through one query per order: a deliberate N+1 for tracing
        demos (the waterfall of identical SELECTs is what to spot in Tempo)."""
        orders = await self._list_orders(user_id, limit, offset)
        views = []
        for order in orders:
            items = await self._session.scalars(
                select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.id)
            )
            views.append(order_view(order, list(items.all())))
        return views

    async def update_status(
        self, order_id: uuid.UUID, user_id: int, target: OrderStatus, *, staff: bool = False
    ) -> OrderView:
        order = await self._owned(order_id, user_id, staff=staff)
        current = OrderStatus(order.status)
        if target in SAGA_OWNED:
            raise ConflictError(f"status {target} is set by the order saga, not by clients")
        if target in STAFF_ONLY and not staff:
            raise ForbiddenError(f"only staff may mark an order {target}")
        if not can_transition(current, target):
            raise ConflictError(f"an order cannot go from {current} to {target}")
        items = (await self._items([order.id]))[order.id]
        # Compare-and-set: the saga may be moving the same order right now.
        moved = await self._session.scalar(
            update(Order)
            .where(Order.id == order_id, Order.status == current)
            .values(status=target)
            .returning(Order.id)
        )
        if moved is None:
            await self._session.rollback()
            raise ConflictError("the order changed concurrently; read it again")
        if target == OrderStatus.CANCELLED:
            for item in items:
                if current == OrderStatus.PENDING:
                    await stock.release(self._session, item.item_id, item.quantity)
                else:
                    await stock.restock(self._session, item.item_id, item.quantity)
        await self._session.commit()
        await self._session.refresh(order)
        await self._cache.invalidate(*stock_keys(i.item_id for i in items))
        return order_view(order, items)
