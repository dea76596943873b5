"""Orders of the authenticated user."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Controller, Router, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED

from orderflow.api.deps import Caller, RequestContext, provide_caller
from orderflow.domain.orders.service import OrderLine, OrderService
from orderflow.domain.orders.status import OrderStatus
from orderflow.domain.orders.views import OrderView


class NewOrder(msgspec.Struct, forbid_unknown_fields=True):
    items: list[OrderLine]
    customer_id: str | None = None


class StatusChange(msgspec.Struct, forbid_unknown_fields=True):
    status: OrderStatus


Limit = Annotated[int, Parameter(ge=1, le=100)]
Offset = Annotated[int, Parameter(ge=0)]


class OrderController(Controller):
    path = "/api/orders"
    tags = ["orders"]  # noqa: RUF012 - Litestar reads class attributes

    @post("/", status_code=HTTP_201_CREATED)
    async def create_order(self, data: NewOrder, ctx: RequestContext, caller: Caller) -> OrderView:
        customer = (data.customer_id or caller.user.username)[:64]
        return await OrderService(ctx.session, ctx.cache).create(caller.id, customer, data.items)

    @get("/")
    async def list_orders(
        self,
        ctx: RequestContext,
        caller: Caller,
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> list[OrderView]:
        return await OrderService(ctx.session, ctx.cache).list_recent(caller.id, limit, offset)

    @get("/{order_id:uuid}")
    async def get_order(
        self, order_id: uuid.UUID, ctx: RequestContext, caller: Caller
    ) -> OrderView:
        return await OrderService(ctx.session, ctx.cache).get(order_id, caller.id)

    @patch("/{order_id:uuid}/status")
    async def change_status(
        self,
        order_id: uuid.UUID,
        data: StatusChange,
        ctx: RequestContext,
        caller: Caller,
    ) -> OrderView:
        return await OrderService(ctx.session, ctx.cache).update_status(
            order_id, caller.id, data.status
        )


@get("/api/orders-nplus1", tags=["orders"])
async def list_orders_nplus1(
    ctx: RequestContext, caller: Caller, limit: Limit = 20, offset: Offset = 0
) -> list[OrderView]:
    return await OrderService(ctx.session, ctx.cache).list_nplus1(caller.id, limit, offset)


order_router = Router(
    path="/",
    route_handlers=[OrderController, list_orders_nplus1],
    dependencies={"caller": Provide(provide_caller)},
)
