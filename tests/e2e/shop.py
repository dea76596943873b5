"""A shopper against the API through a port-forward: the calls the end-to-end tests share."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.support.api_client import Account, register

FINAL = {"confirmed", "failed"}


def in_stock_product(client: httpx.Client, quantity: int = 1) -> dict[str, Any]:
    stock: list[dict[str, Any]] = client.get("/api/stock").json()
    product = max(stock, key=lambda p: p["available"])
    assert product["available"] >= quantity, stock
    return product


def place_order(client: httpx.Client, account: Account, product: dict[str, Any]) -> httpx.Response:
    line = {"item_id": product["item_id"], "quantity": 1, "price": product["price"]}
    return client.post("/api/orders", json={"items": [line]}, headers=account.auth)


def statuses(client: httpx.Client, account: Account, ids: list[str]) -> dict[str, str]:
    return {
        order_id: client.get(f"/api/orders/{order_id}", headers=account.auth).json()["status"]
        for order_id in ids
    }


def wait_settled(
    client: httpx.Client, account: Account, ids: list[str], timeout: float = 180
) -> dict[str, str]:
    """Poll until every order reached a final saga state; returns the states."""
    deadline = time.monotonic() + timeout
    while True:
        seen = statuses(client, account, ids)
        if set(seen.values()) <= FINAL or time.monotonic() > deadline:
            return seen
        time.sleep(1)


__all__ = ["Account", "in_stock_product", "place_order", "register", "wait_settled"]
