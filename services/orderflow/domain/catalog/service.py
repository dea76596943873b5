"""Catalog reads (cached) and explicit reservations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from orderflow.db.models import Product
from orderflow.domain.catalog import stock
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

    async def reserve(self, item_id: str, quantity: int) -> StockView:
        with tracer.start_as_current_span("stock.reserve") as span:
            span.set_attributes({"stock.item_id": item_id, "stock.quantity": quantity})
            product = await stock.reserve(self._session, item_id, quantity)
            await self._session.commit()
            await self._cache.invalidate(*stock_keys([item_id]))
            return StockView(product.id, product.available, product.reserved)

    async def release(self, item_id: str, quantity: int) -> StockView:
        with tracer.start_as_current_span("stock.release") as span:
            span.set_attributes({"stock.item_id": item_id, "stock.quantity": quantity})
            product = await stock.release(self._session, item_id, quantity)
            await self._session.commit()
            await self._cache.invalidate(*stock_keys([item_id]))
            return StockView(product.id, product.available, product.reserved)
