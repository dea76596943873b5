"""Explicit reservations: a hold on units of one item, owned by one user, that ends by itself.

A reservation is a row (id, owner, item, quantity, expiry) next to the stock it holds: units
move from ``available`` to ``reserved`` when it is made, and back exactly once, when its owner
releases it or when it expires. "Exactly once" comes from the row: whoever deletes it (the
owner, a sweeper, a reserve that found it expired) gets it back from ``DELETE ... RETURNING``
and only then returns the units, in the same transaction; a second deleter finds nothing.

Orders reserve stock too, but those units belong to the order's lines (settled or released by
the saga) and have no row here: nothing in this module can touch them. An order may take over
its owner's reservation (``claim``): the row goes, its units stay reserved for the order's line.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import msgspec
from sqlalchemy import delete, func, select, update

from orderflow.db.models import Product, Reservation, User
from orderflow.domain.catalog import stock
from orderflow.domain.errors import ConflictError, InvalidInputError, NotFoundError
from orderflow.domain.telemetry import meter

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

_expired = meter.create_counter(
    "stock.reservations.expired",
    unit="{reservation}",
    description="Reservations that ended by expiry, their units back on the shelf",
)


class ReservationView(msgspec.Struct, frozen=True):
    id: uuid.UUID
    item_id: str
    quantity: int
    expires_at: datetime


def _view(row: Reservation) -> ReservationView:
    return ReservationView(row.id, row.item_id, row.quantity, row.expires_at)


async def _return_units(session: AsyncSession, returned: list[tuple[str, int]]) -> None:
    per_item: dict[str, int] = defaultdict(int)
    for item_id, quantity in returned:
        per_item[item_id] += quantity
    for item_id in sorted(per_item):  # key order, as everywhere stock rows are locked
        await session.execute(
            update(Product)
            .where(Product.id == item_id)
            .values(
                available=Product.available + per_item[item_id],
                reserved=Product.reserved - per_item[item_id],
            )
        )
        stock.count_released(per_item[item_id])


async def sweep(session: AsyncSession, item_id: str | None = None, limit: int = 500) -> set[str]:
    """End expired reservations (of one item, or any), returning their units. Caller commits.
    Returns the items whose stock changed."""
    due = select(Reservation.id).where(Reservation.expires_at <= func.now())
    if item_id is not None:
        due = due.where(Reservation.item_id == item_id)
    # SKIP LOCKED: concurrent sweepers split the work instead of queueing behind each other.
    due = due.order_by(Reservation.expires_at).limit(limit).with_for_update(skip_locked=True)
    rows = (
        await session.execute(
            delete(Reservation)
            .where(Reservation.id.in_(due.scalar_subquery()))
            .returning(Reservation.item_id, Reservation.quantity)
        )
    ).all()
    if rows:
        await _return_units(session, [(r[0], r[1]) for r in rows])
        _expired.add(len(rows))
    return {str(r[0]) for r in rows}


async def reserve(
    session: AsyncSession,
    user_id: int,
    item_id: str,
    quantity: int,
    ttl_seconds: int,
    max_units_per_user: int,
) -> ReservationView:
    """Hold ``quantity`` units for ``user_id`` until ``ttl_seconds`` from now. Caller commits."""
    if quantity <= 0:
        raise InvalidInputError("quantity must be a positive integer")
    if ttl_seconds <= 0:
        raise InvalidInputError("ttl_seconds must be a positive integer")
    # The owner's row lock serialises their concurrent reservations, so the cap cannot be
    # overrun by a burst of requests that each saw room for themselves. Taken before any
    # stock row: every path locks user, then product, so no two can deadlock.
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())
    # Expired holds on this item go back first: what someone forgot is available again now,
    # not at the next sweep.
    await sweep(session, item_id)
    held = await session.scalar(
        select(func.coalesce(func.sum(Reservation.quantity), 0)).where(
            Reservation.user_id == user_id, Reservation.expires_at > func.now()
        )
    )
    if int(held or 0) + quantity > max_units_per_user:
        # An oversell is still reported as one (and counted): it is the more useful answer.
        await stock.require_available(session, item_id, quantity)
        raise ConflictError(
            f"you already hold {held} units in reservations; at most {max_units_per_user} "
            "at a time (release some, or let them expire)"
        )
    await stock.reserve(session, item_id, quantity)  # ConflictError when it would oversell
    now = await session.scalar(select(func.now()))
    assert now is not None
    row = Reservation(
        id=uuid.uuid4(),
        user_id=user_id,
        item_id=item_id,
        quantity=quantity,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    session.add(row)
    await session.flush()
    return _view(row)


async def release(session: AsyncSession, reservation_id: uuid.UUID, user_id: int) -> str:
    """End the owner's reservation now, returning its units; the item id. Caller commits.

    Someone else's reservation answers like a missing one (ids are not confirmed to
    strangers); so does one that already ended (released, or swept after expiry)."""
    row = (
        await session.execute(
            delete(Reservation)
            .where(Reservation.id == reservation_id, Reservation.user_id == user_id)
            .returning(Reservation.item_id, Reservation.quantity)
        )
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"reservation {reservation_id} not found")
    await _return_units(session, [(row[0], row[1])])
    return str(row[0])


async def claim(
    session: AsyncSession, reservation_id: uuid.UUID, user_id: int, item_id: str
) -> int:
    """Take the owner's live reservation of ``item_id`` for an order line; the units it held,
    which stay reserved and now belong to the line. Caller commits, and settles any
    difference with the line's quantity.

    Deleting the row is what takes it, so a concurrent release, sweep or second order gets
    nothing (exactly once, as everywhere in this module). No stock row is touched here, so a
    caller can claim all its reservations before it locks products in key order. Someone
    else's, an expired one, or one for another item is a conflict."""
    row = (
        await session.execute(
            delete(Reservation)
            .where(
                Reservation.id == reservation_id,
                Reservation.user_id == user_id,
                Reservation.item_id == item_id,
                Reservation.expires_at > func.now(),
            )
            .returning(Reservation.quantity)
        )
    ).one_or_none()
    if row is None:
        raise ConflictError(
            f"reservation {reservation_id} is not a live reservation of yours for {item_id!r}"
        )
    return int(row[0])


async def of_user(session: AsyncSession, user_id: int) -> list[ReservationView]:
    rows = await session.scalars(
        select(Reservation)
        .where(Reservation.user_id == user_id, Reservation.expires_at > func.now())
        .order_by(Reservation.expires_at, Reservation.id)
    )
    return [_view(r) for r in rows]
