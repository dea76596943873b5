"""Stock levels, inventory detail, and reservations: owned, expiring holds on stock."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Controller, delete, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from orderflow.api.deps import Caller, RequestContext, provide_caller, resources_of
from orderflow.api.fields import INT32_MAX, ItemIdPath, Units
from orderflow.domain.catalog.reservations import ReservationView
from orderflow.domain.catalog.service import CatalogService, InventoryView, StockView
from orderflow.domain.errors import InvalidInputError


class NewReservation(msgspec.Struct, forbid_unknown_fields=True):
    quantity: Units
    ttl_seconds: Annotated[int, msgspec.Meta(ge=1, le=INT32_MAX)] | None = None
    """How long to hold the units; at most (and by default) RESERVATION_TTL_SECONDS."""


_auth = {"caller": Provide(provide_caller)}


class CatalogController(Controller):
    path = "/api"
    tags = ["inventory"]  # noqa: RUF012 - Litestar reads class attributes

    @get("/stock")
    async def list_stock(self, ctx: RequestContext) -> list[InventoryView]:
        return await CatalogService(ctx.session, ctx.cache).list_stock()

    @get("/stock/{item_id:str}")
    async def get_stock(self, item_id: ItemIdPath, ctx: RequestContext) -> StockView:
        return await CatalogService(ctx.session, ctx.cache).stock(item_id)

    @get("/inventory/{item_id:str}")
    async def get_inventory(self, item_id: ItemIdPath, ctx: RequestContext) -> InventoryView:
        return await CatalogService(ctx.session, ctx.cache).inventory(item_id)

    @post("/stock/{item_id:str}/reserve", status_code=HTTP_201_CREATED, dependencies=_auth)
    async def reserve(
        self,
        item_id: ItemIdPath,
        data: NewReservation,
        ctx: RequestContext,
        caller: Caller,
        state: State,
    ) -> ReservationView:
        limits = resources_of(state).settings.reservations
        ttl = limits.ttl_seconds if data.ttl_seconds is None else data.ttl_seconds
        if ttl > limits.ttl_seconds:
            raise InvalidInputError(f"ttl_seconds must be at most {limits.ttl_seconds}")
        return await CatalogService(ctx.session, ctx.cache).reserve(
            caller.id,
            item_id,
            data.quantity,
            ttl_seconds=ttl,
            max_units_per_user=limits.max_units_per_user,
        )

    @get("/reservations", dependencies=_auth)
    async def list_reservations(self, ctx: RequestContext, caller: Caller) -> list[ReservationView]:
        return await CatalogService(ctx.session, ctx.cache).reservations_of(caller.id)

    @delete(
        "/reservations/{reservation_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        dependencies=_auth,
    )
    async def release(self, reservation_id: uuid.UUID, ctx: RequestContext, caller: Caller) -> None:
        await CatalogService(ctx.session, ctx.cache).release(reservation_id, caller.id)
