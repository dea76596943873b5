"""Stock reads and reservations: never oversell, never release more than reserved."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import httpx

from tests.support.api_client import assert_error, register
from tests.support.database import Database


def test_stock_and_inventory_reads(client: httpx.Client, make_product: Callable[..., str]) -> None:
    item = make_product(available=7, price=1234)
    assert client.get(f"/api/stock/{item}").json() == {
        "item_id": item,
        "available": 7,
        "reserved": 0,
    }
    inventory = client.get(f"/api/inventory/{item}").json()
    assert inventory["price"] == 1234 and inventory["on_hand"] == 7
    assert item in {row["item_id"] for row in client.get("/api/stock").json()}
    assert_error(client.get("/api/stock/does-not-exist"), 404, "not found")


def test_reserve_and_release_rules(client: httpx.Client, make_product: Callable[..., str]) -> None:
    account = register(client)
    item = make_product(available=5)
    assert_error(client.post(f"/api/stock/{item}/reserve", json={"quantity": 1}), 401)
    reserved = client.post(f"/api/stock/{item}/reserve", json={"quantity": 3}, headers=account.auth)
    assert reserved.json() == {"item_id": item, "available": 2, "reserved": 3}
    # The cached read saw the write.
    assert client.get(f"/api/stock/{item}").json()["available"] == 2
    over = client.post(f"/api/stock/{item}/reserve", json={"quantity": 3}, headers=account.auth)
    assert_error(over, 409, "insufficient stock")
    too_many = client.post(f"/api/stock/{item}/release", json={"quantity": 4}, headers=account.auth)
    assert_error(too_many, 409, "only 3 reserved")
    assert_error(
        client.post(f"/api/stock/{item}/reserve", json={"quantity": 0}, headers=account.auth),
        422,
        "positive",
    )
    assert_error(
        client.post(f"/api/stock/{item}/reserve", json={"quantity": "two"}, headers=account.auth),
        400,
        "quantity",
    )
    released = client.post(f"/api/stock/{item}/release", json={"quantity": 3}, headers=account.auth)
    assert released.json() == {"item_id": item, "available": 5, "reserved": 0}


def test_fifty_concurrent_reservations_never_oversell(
    client: httpx.Client, api_url: str, make_product: Callable[..., str], db: Database
) -> None:
    account = register(client)
    item = make_product(available=20)

    async def storm() -> list[int]:
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
            responses = await asyncio.gather(
                *(
                    http.post(
                        f"/api/stock/{item}/reserve", json={"quantity": 1}, headers=account.auth
                    )
                    for _ in range(50)
                )
            )
        return [r.status_code for r in responses]

    statuses = Counter(asyncio.run(storm()))
    assert statuses == {200: 20, 409: 30}
    row = db.fetch("SELECT available, reserved FROM products WHERE id = $1", item)[0]
    assert (row["available"], row["reserved"]) == (0, 20)
