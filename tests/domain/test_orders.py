"""Placing, reading and moving orders through OrderService."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import pytest

from orderflow.cache import Cache
from orderflow.db.models import User
from orderflow.domain.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from orderflow.domain.orders.service import PROCESS_ORDER_ACTOR, OrderLine, OrderService
from orderflow.domain.orders.status import OrderStatus
from tests.domain.queries import events, order_status, stock
from tests.support.database import Database

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

MakeProduct = Callable[..., Awaitable[str]]
MakeUser = Callable[..., Awaitable[User]]


async def test_create_reserves_stock_and_records_the_saga_event_together(
    session: AsyncSession,
    cache: Cache,
    db: Database,
    make_product: MakeProduct,
    make_user: MakeUser,
) -> None:
    user = await make_user()
    first, second = await make_product(available=5, price=300), await make_product(price=50)
    # Lines in any order: they are reserved in key order, whatever the client sent.
    view = await OrderService(session, cache).create(
        user.id, "c-1", [OrderLine(second, 3, 50), OrderLine(first, 2, 300)]
    )
    assert view.status == OrderStatus.PENDING
    assert view.total == 2 * 300 + 3 * 50
    assert await stock(db, first) == (3, 2)
    assert await stock(db, second) == (7, 3)
    assert await order_status(db, view.id) == "pending"
    assert await events(db, PROCESS_ORDER_ACTOR, order_id=str(view.id)) == 1


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        (lambda item: [], InvalidInputError),
        (lambda item: [OrderLine(item, 0, 100)], InvalidInputError),
        (lambda item: [OrderLine(item, 1, 100), OrderLine(item, 1, 100)], InvalidInputError),
        (lambda item: [OrderLine(item, 1, 99)], ConflictError),  # a stale price
        (lambda item: [OrderLine(item, 4, 100)], ConflictError),  # oversell
        (lambda item: [OrderLine(item, 1, 100), OrderLine("no-such-item", 1, 1)], NotFoundError),
    ],
    ids=["empty", "zero-quantity", "same-item-twice", "stale-price", "oversell", "unknown-item"],
)
async def test_a_refused_order_writes_nothing(
    session: AsyncSession,
    cache: Cache,
    db: Database,
    make_product: MakeProduct,
    make_user: MakeUser,
    lines: Callable[[str], list[OrderLine]],
    error: type[Exception],
) -> None:
    user = await make_user()
    item = await make_product(available=3, price=100)
    with pytest.raises(error):
        await OrderService(session, cache).create(user.id, "c", lines(item))
    await session.rollback()
    assert await stock(db, item) == (3, 0)
    assert await db.value_async("SELECT count(*) FROM orders WHERE user_id = $1", user.id) == 0


async def test_orders_are_private_except_to_staff(
    session: AsyncSession, cache: Cache, make_product: MakeProduct, make_user: MakeUser
) -> None:
    owner, stranger, staff = await make_user(), await make_user(), await make_user("staff")
    orders = OrderService(session, cache)
    placed = await orders.create(owner.id, "c", [OrderLine(await make_product(), 1, 1000)])
    assert (await orders.get(placed.id, owner.id)).id == placed.id
    assert [o.id for o in await orders.list_recent(owner.id, 10, 0)] == [placed.id]
    assert await orders.list_recent(stranger.id, 10, 0) == []
    with pytest.raises(NotFoundError):  # like a missing order: ids are not confirmed
        await orders.get(placed.id, stranger.id)
    assert (await orders.get(placed.id, staff.id, staff=True)).id == placed.id
    # The deliberate N+1 path answers the same as the batched one.
    assert await orders.list_nplus1(owner.id, 10, 0) == await orders.list_recent(owner.id, 10, 0)


async def test_cancelling_a_pending_order_releases_its_reservation_once(
    session: AsyncSession,
    cache: Cache,
    db: Database,
    make_product: MakeProduct,
    make_user: MakeUser,
) -> None:
    user = await make_user()
    item = await make_product(available=5)
    orders = OrderService(session, cache)
    placed = await orders.create(user.id, "c", [OrderLine(item, 2, 1000)])
    cancelled = await orders.update_status(placed.id, user.id, OrderStatus.CANCELLED)
    assert cancelled.status == OrderStatus.CANCELLED
    assert await stock(db, item) == (5, 0)
    with pytest.raises(ConflictError):  # cancelled is final: the units cannot go back twice
        await orders.update_status(placed.id, user.id, OrderStatus.CANCELLED)
    assert await stock(db, item) == (5, 0)


async def test_cancelling_a_confirmed_order_restocks_what_was_settled(
    session: AsyncSession,
    cache: Cache,
    db: Database,
    make_product: MakeProduct,
    make_user: MakeUser,
) -> None:
    user = await make_user()
    item = await make_product(available=5)
    orders = OrderService(session, cache)
    placed = await orders.create(user.id, "c", [OrderLine(item, 2, 1000)])
    # What the saga leaves behind for a paid order: confirmed, the units settled.
    await db.execute_async("UPDATE orders SET status = 'confirmed' WHERE id = $1", placed.id)
    await db.execute_async("UPDATE products SET reserved = 0 WHERE id = $1", item)
    await orders.update_status(placed.id, user.id, OrderStatus.CANCELLED)
    assert await stock(db, item) == (5, 0)


async def test_status_rules(
    session: AsyncSession,
    cache: Cache,
    db: Database,
    make_product: MakeProduct,
    make_user: MakeUser,
) -> None:
    customer, staff = await make_user(), await make_user("staff")
    orders = OrderService(session, cache)
    placed = await orders.create(customer.id, "c", [OrderLine(await make_product(), 1, 1000)])
    with pytest.raises(ConflictError, match="saga"):
        await orders.update_status(placed.id, customer.id, OrderStatus.CONFIRMED)
    with pytest.raises(ConflictError, match="pending to shipped"):  # staff, but not yet paid
        await orders.update_status(placed.id, staff.id, OrderStatus.SHIPPED, staff=True)
    await db.execute_async("UPDATE orders SET status = 'confirmed' WHERE id = $1", placed.id)
    session.expunge_all()
    with pytest.raises(ForbiddenError):
        await orders.update_status(placed.id, customer.id, OrderStatus.SHIPPED)
    shipped = await orders.update_status(placed.id, staff.id, OrderStatus.SHIPPED, staff=True)
    assert shipped.status == OrderStatus.SHIPPED
    with pytest.raises(NotFoundError):  # staff rights are not implied by the id
        await orders.update_status(placed.id, staff.id, OrderStatus.DELIVERED)
    assert await order_status(db, placed.id) == "shipped"
