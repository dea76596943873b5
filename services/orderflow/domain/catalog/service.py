"""Catalog reads (cached) and explicit reservations."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import msgspec

from orderflow.db.models import Product
from orderflow.domain.catalog import reservations, stock
from orderflow.domain.catalog.reservations import ReservationView
from orderflow.domain.errors import NotFoundError
from orderflow.domain.telemetry import tracer

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.ext.asyncio import AsyncSession

    from orderflow.cache import Cache

ALL_STOCK_KEY = "stock:all"


class StockView(msgspec.Struct, frozen=True):
    item_id: str
    available: int
    reserved: int


class InventoryView(msgspec.Struct, frozen=True):
    item_id: str
    name: str
    price: int
    available: int
    reserved: int
    on_hand: int


def stock_key(item_id: str) -> str:
    return f"stock:{item_id}"


def stock_keys(item_ids: Iterable[str]) -> list[str]:
    """Every cache key a change to these items makes stale."""
    return [ALL_STOCK_KEY, *(stock_key(i) for i in item_ids)]


def _inventory(product: Product) -> InventoryView:
    return InventoryView(
        item_id=product.id,
        name=product.name,
        price=product.price_cents,
        available=product.available,
        reserved=product.reserved,
        on_hand=product.available + product.reserved,
    )


class CatalogService:
    def __init__(self, session: AsyncSession, cache: Cache) -> None:
        self._session = session
        self._cache = cache

    async def list_stock(self) -> list[InventoryView]:
        cached = await self._cache.get(ALL_STOCK_KEY, list[InventoryView])
        if cached is not None:
            return cached
        views = [_inventory(p) for p in await stock.all_products(self._session)]
        await self._cache.set(ALL_STOCK_KEY, views)
        return views

    async def inventory(self, item_id: str) -> InventoryView:
        cached = await self._cache.get(stock_key(item_id), InventoryView)
        if cached is not None:
            return cached
        product = await self._session.get(Product, item_id)
        if product is None:
            raise NotFoundError(f"item {item_id!r} not found")
        view = _inventory(product)
        await self._cache.set(stock_key(item_id), view)
        return view

    async def stock(self, item_id: str) -> StockView:
        view = await self.inventory(item_id)
        return StockView(item_id=view.item_id, available=view.available, reserved=view.reserved)

    async def reserve(
        self,
        user_id: int,
        item_id: str,
        quantity: int,
        *,
        ttl_seconds: int,
        max_units_per_user: int,
    ) -> ReservationView:
        with tracer.start_as_current_span("stock.reserve") as span:
            span.set_attributes({"stock.item_id": item_id, "stock.quantity": quantity})
            view = await reservations.reserve(
                self._session, user_id, item_id, quantity, ttl_seconds, max_units_per_user
            )
            await self._session.commit()
            span.set_attribute("stock.reservation_id", str(view.id))
            await self._cache.invalidate(*stock_keys([item_id]))
            return view

    async def release(self, reservation_id: uuid.UUID, user_id: int) -> None:
        with tracer.start_as_current_span("stock.release") as span:
            span.set_attribute("stock.reservation_id", str(reservation_id))
            item_id = await reservations.release(self._session, reservation_id, user_id)
            await self._session.commit()
            await self._cache.invalidate(*stock_keys([item_id]))

    async def reservations_of(self, user_id: int) -> list[ReservationView]:
        return await reservations.of_user(self._session, user_id)

    async def sweep_expired(self) -> int:
        """Return the units of every expired reservation; how many items changed."""
        items = await reservations.sweep(self._session)
        await self._session.commit()
        if items:
            await self._cache.invalidate(*stock_keys(items))
        return len(items)
