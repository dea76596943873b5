"""What callers see of an order."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from orderflow.db.models import Order, OrderItem


class OrderItemView(msgspec.Struct, frozen=True):
    item_id: str
    quantity: int
    price: int


class OrderView(msgspec.Struct, frozen=True):
    id: uuid.UUID
    customer_id: str
    status: str
    total: int
    items: list[OrderItemView]
    created_at: datetime
    updated_at: datetime


def order_view(order: Order, items: list[OrderItem]) -> OrderView:
    return OrderView(
        id=order.id,
        customer_id=order.customer_id,
        status=order.status,
        total=order.total_cents,
        items=[OrderItemView(i.item_id, i.quantity, i.price_cents) for i in items],
        created_at=order.created_at,
        updated_at=order.updated_at,
    )
