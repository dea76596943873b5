"""Stock moves as single conditional UPDATEs: the row lock makes them race-free without
application-level locking, and a failed condition is an oversell that never happened."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, update

from orderflow.db.models import Product
from orderflow.domain.errors import ConflictError, InvalidInputError, NotFoundError
from orderflow.domain.telemetry import meter

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

_reserved = meter.create_counter("stock.reserved", unit="{unit}", description="Units reserved")
_released = meter.create_counter("stock.released", unit="{unit}", description="Units released")
_rejected = meter.create_counter(
    "stock.oversell.rejected",
    unit="{request}",
    description="Reservations refused because stock was insufficient",
)


def _check_quantity(quantity: int) -> None:
    if quantity <= 0:
        raise InvalidInputError("quantity must be a positive integer")


async def _explain_refusal(session: AsyncSession, item_id: str) -> Product:
    product = await session.get(Product, item_id)
    if product is None:
        raise NotFoundError(f"item {item_id!r} not found")
    return product


def _oversell(item_id: str, quantity: int, available: int) -> ConflictError:
    _rejected.add(1)
    return ConflictError(
        f"insufficient stock for {item_id!r}: requested {quantity}, available {available}"
    )


async def require_available(session: AsyncSession, item_id: str, quantity: int) -> None:
    """Raise what ``reserve`` would for an item that does not exist or has too little (a
    plain read: the answer may be stale by the time anything is written)."""
    current = await _explain_refusal(session, item_id)
    if current.available < quantity:
        raise _oversell(item_id, quantity, current.available)


async def reserve(session: AsyncSession, item_id: str, quantity: int) -> Product:
    """Move ``quantity`` from available to reserved, or raise ConflictError. Caller commits."""
    _check_quantity(quantity)
    product = await session.scalar(
        update(Product)
        .where(Product.id == item_id, Product.available >= quantity)
        .values(available=Product.available - quantity, reserved=Product.reserved + quantity)
        .returning(Product)
    )
    if product is None:
        current = await _explain_refusal(session, item_id)
        raise _oversell(item_id, quantity, current.available)
    _reserved.add(quantity)
    return product


def count_released(quantity: int) -> None:
    _released.add(quantity)


async def release(session: AsyncSession, item_id: str, quantity: int) -> Product:
    """Return reserved units to available, never more than are reserved. Caller commits."""
    _check_quantity(quantity)
    product = await session.scalar(
        update(Product)
        .where(Product.id == item_id, Product.reserved >= quantity)
        .values(available=Product.available + quantity, reserved=Product.reserved - quantity)
        .returning(Product)
    )
    if product is None:
        current = await _explain_refusal(session, item_id)
        raise ConflictError(
            f"cannot release {quantity} of {item_id!r}: only {current.reserved} reserved"
        )
    _released.add(quantity)
    return product


async def settle(session: AsyncSession, item_id: str, quantity: int) -> None:
    """Reserved units leave the warehouse (the order was paid). Caller commits."""
    await session.execute(
        update(Product)
        .where(Product.id == item_id, Product.reserved >= quantity)
        .values(reserved=Product.reserved - quantity)
    )


async def restock(session: AsyncSession, item_id: str, quantity: int) -> None:
    """Settled units come back (a paid order was cancelled). Caller commits."""
    await session.execute(
        update(Product).where(Product.id == item_id).values(available=Product.available + quantity)
    )


async def all_products(session: AsyncSession) -> list[Product]:
    return list((await session.scalars(select(Product).order_by(Product.id))).all())
