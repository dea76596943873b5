"""Stock levels, inventory detail and explicit reservations."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, post
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK

from orderflow.api.deps import Caller, RequestContext, provide_caller
from orderflow.domain.catalog.service import CatalogService, InventoryView, StockView


class Quantity(msgspec.Struct, forbid_unknown_fields=True):
    quantity: int


class CatalogController(Controller):
    path = "/api"
    tags = ["inventory"]  # noqa: RUF012 - Litestar reads class attributes

    @get("/stock")
    async def list_stock(self, ctx: RequestContext) -> list[InventoryView]:
        return await CatalogService(ctx.session, ctx.cache).list_stock()

    @get("/stock/{item_id:str}")
    async def get_stock(self, item_id: str, ctx: RequestContext) -> StockView:
        return await CatalogService(ctx.session, ctx.cache).stock(item_id)

    @get("/inventory/{item_id:str}")
    async def get_inventory(self, item_id: str, ctx: RequestContext) -> InventoryView:
        return await CatalogService(ctx.session, ctx.cache).inventory(item_id)

    @post(
        "/stock/{item_id:str}/reserve",
        status_code=HTTP_200_OK,
        dependencies={"caller": Provide(provide_caller)},
    )
    async def reserve(
        self, item_id: str, data: Quantity, ctx: RequestContext, caller: Caller
    ) -> StockView:
        return await CatalogService(ctx.session, ctx.cache).reserve(item_id, data.quantity)

    @post(
        "/stock/{item_id:str}/release",
        status_code=HTTP_200_OK,
        dependencies={"caller": Provide(provide_caller)},
    )
    async def release(
        self, item_id: str, data: Quantity, ctx: RequestContext, caller: Caller
    ) -> StockView:
        return await CatalogService(ctx.session, ctx.cache).release(item_id, data.quantity)
