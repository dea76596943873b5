"""Orders of the authenticated user."""

from __future__ import annotations

import uuid

import msgspec
from litestar import Controller, Router, get, patch, post
from litestar.di import Provide
from litestar.status_codes import HTTP_201_CREATED

from orderflow.api.deps import Caller, RequestContext, provide_caller
from orderflow.api.fields import CustomerId, ItemId, Limit, Offset, PriceCents, Units
from orderflow.domain.orders.service import OrderLine, OrderService
from orderflow.domain.orders.status import OrderStatus
from orderflow.domain.orders.views import OrderView


class NewOrderLine(msgspec.Struct, forbid_unknown_fields=True):
    item_id: ItemId
    quantity: Units
    price: PriceCents
    # One of your live reservations of this item: the line takes its units over.
    reservation_id: uuid.UUID | None = None


class NewOrder(msgspec.Struct, forbid_unknown_fields=True):
    items: list[NewOrderLine]
    customer_id: CustomerId | None = None


class StatusChange(msgspec.Struct, forbid_unknown_fields=True):
    status: OrderStatus


class OrderController(Controller):
    path = "/api/orders"
    tags = ["orders"]  # noqa: RUF012 - Litestar reads class attributes

    @post("/", status_code=HTTP_201_CREATED)
    async def create_order(self, data: NewOrder, ctx: RequestContext, caller: Caller) -> OrderView:
        customer = data.customer_id or caller.user.username
        lines = [
            OrderLine(line.item_id, line.quantity, line.price, line.reservation_id)
            for line in data.items
        ]
        return await OrderService(ctx.session, ctx.cache).create(caller.id, customer, lines)

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
        return await OrderService(ctx.session, ctx.cache).get(
            order_id, caller.id, staff=caller.is_staff
        )

    @patch("/{order_id:uuid}/status")
    async def change_status(
        self,
        order_id: uuid.UUID,
        data: StatusChange,
        ctx: RequestContext,
        caller: Caller,
    ) -> OrderView:
        return await OrderService(ctx.session, ctx.cache).update_status(
            order_id, caller.id, data.status, staff=caller.is_staff
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
