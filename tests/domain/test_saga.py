"""The order saga's steps delivered more than once, as an at-least-once broker may: the state
and every side effect (stock movement, payment decision, follow-up message) happen once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import pytest

from orderflow.cache import Cache
from orderflow.db.models import User
from orderflow.domain.orders.saga import SEND_NOTIFICATION_ACTOR, OrderSaga
from orderflow.domain.orders.service import OrderLine, OrderService
from orderflow.domain.orders.status import OrderStatus
from tests.domain.queries import events, order_status, stock
from tests.support.database import Database

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

MakeProduct = Callable[..., Awaitable[str]]
MakeUser = Callable[..., Awaitable[User]]

APPROVE, DECLINE = 1.0, 0.0  # chance() values against a failure rate of 0.5
Saga = Callable[..., OrderSaga]


@pytest.fixture
def saga(sessions: async_sessionmaker[AsyncSession], cache: Cache) -> Saga:
    """A saga whose payment provider approves (APPROVE) or declines (DECLINE)."""

    def make(chance: float = APPROVE) -> OrderSaga:
        return OrderSaga(sessions, cache, payment_failure_rate=0.5, chance=lambda: chance)

    return make


@pytest.fixture
async def placed(
    sessions: async_sessionmaker[AsyncSession],
    cache: Cache,
    make_product: MakeProduct,
    make_user: MakeUser,
) -> tuple[uuid.UUID, str]:
    """A pending order for 2 of an item with 5 available: (order id, item id)."""
    item = await make_product(available=5, price=700)
    async with sessions() as session:
        view = await OrderService(session, cache).create(
            (await make_user()).id, "c", [OrderLine(item, 2, 700)]
        )
    return view.id, item


async def assert_settled_once(
    db: Database, order_id: uuid.UUID, item: str, status: str, stock_after: tuple[int, int]
) -> None:
    assert await order_status(db, order_id) == status
    assert await stock(db, item) == stock_after
    payments = await db.value_async("SELECT count(*) FROM payments WHERE order_id = $1", order_id)
    assert payments == 1
    assert await events(db, SEND_NOTIFICATION_ACTOR, order_id=str(order_id)) == 1


async def test_a_paid_order_is_confirmed_and_settled(
    saga: Saga, placed: tuple[uuid.UUID, str], db: Database
) -> None:
    order_id, item = placed
    assert await saga().process(order_id) is OrderStatus.CONFIRMED
    await assert_settled_once(db, order_id, item, "confirmed", (3, 0))
    amount = await db.value_async("SELECT amount_cents FROM payments WHERE order_id = $1", order_id)
    assert amount == 1400


async def test_a_declined_payment_compensates_by_releasing_stock(
    saga: Saga, placed: tuple[uuid.UUID, str], db: Database
) -> None:
    order_id, item = placed
    assert await saga(DECLINE).process(order_id) is OrderStatus.FAILED
    await assert_settled_once(db, order_id, item, "failed", (5, 0))


async def test_a_redelivered_message_repeats_nothing(
    saga: Saga, placed: tuple[uuid.UUID, str], db: Database
) -> None:
    order_id, item = placed
    await saga().process(order_id)
    # The second delivery decides differently if it decides at all: it must not.
    assert await saga(DECLINE).process(order_id) is OrderStatus.CONFIRMED
    await assert_settled_once(db, order_id, item, "confirmed", (3, 0))


async def test_duplicates_delivered_at_the_same_time_settle_once(
    saga: Saga, placed: tuple[uuid.UUID, str], db: Database
) -> None:
    order_id, item = placed
    outcomes = await asyncio.gather(*(saga().process(order_id) for _ in range(4)))
    # The one that moved it and those that found it moved all report where it ended up.
    assert outcomes == [OrderStatus.CONFIRMED] * 4
    await assert_settled_once(db, order_id, item, "confirmed", (3, 0))


async def test_a_saga_resumed_after_its_worker_died_keeps_the_first_payment_decision(
    saga: Saga, placed: tuple[uuid.UUID, str], db: Database
) -> None:
    order_id, item = placed
    # What a worker killed between the charge and the finish leaves: processing, declined.
    await db.execute_async("UPDATE orders SET status = 'processing' WHERE id = $1", order_id)
    await db.execute_async(
        "INSERT INTO payments (order_id, succeeded, amount_cents) VALUES ($1, false, 1400)",
        order_id,
    )
    assert await saga(APPROVE).process(order_id) is OrderStatus.FAILED
    await assert_settled_once(db, order_id, item, "failed", (5, 0))


async def test_a_message_for_a_cancelled_order_does_nothing(
    saga: Saga, placed: tuple[uuid.UUID, str], db: Database
) -> None:
    order_id, item = placed
    await db.execute_async("UPDATE orders SET status = 'cancelled' WHERE id = $1", order_id)
    await db.execute_async("UPDATE products SET available = 5, reserved = 0 WHERE id = $1", item)
    assert await saga().process(order_id) is OrderStatus.CANCELLED
    assert await stock(db, item) == (5, 0)
    assert await db.value_async("SELECT count(*) FROM payments WHERE order_id = $1", order_id) == 0
    assert await events(db, SEND_NOTIFICATION_ACTOR, order_id=str(order_id)) == 0
