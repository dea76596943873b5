"""Stock reads and reservations: owned, expiring holds that never oversell, are released only
by their owner, return their units exactly once, and cannot touch the units orders hold."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx

from tests.integration.conftest import WorkerControl
from tests.support.api_client import Account, assert_error, register
from tests.support.database import Database
from tests.support.processes import api_process, wait_until


def stock_of(db: Database, item: str) -> tuple[int, int]:
    row = db.fetch("SELECT available, reserved FROM products WHERE id = $1", item)[0]
    return row["available"], row["reserved"]


def held_in_reservations(db: Database, item: str) -> int:
    return int(
        db.value("SELECT coalesce(sum(quantity), 0) FROM reservations WHERE item_id = $1", item)
    )


def reserve(
    client: httpx.Client, account: Account, item: str, quantity: int, **extra: int
) -> httpx.Response:
    return client.post(
        f"/api/stock/{item}/reserve", json={"quantity": quantity, **extra}, headers=account.auth
    )


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


def test_a_reservation_is_owned_and_returns_its_units_once(
    client: httpx.Client, make_product: Callable[..., str], db: Database
) -> None:
    owner, stranger = register(client), register(client)
    item = make_product(available=5)
    created = reserve(client, owner, item, 3)
    assert created.status_code == 201, created.text
    reservation = created.json()
    assert reservation["item_id"] == item and reservation["quantity"] == 3
    assert set(reservation) == {"id", "item_id", "quantity", "expires_at"}
    # The cached read saw the write.
    assert client.get(f"/api/stock/{item}").json()["available"] == 2
    listed = client.get("/api/reservations", headers=owner.auth).json()
    assert [r["id"] for r in listed] == [reservation["id"]]
    assert client.get("/api/reservations", headers=stranger.auth).json() == []
    path = f"/api/reservations/{reservation['id']}"
    # Nobody else can release it: someone else's reservation is not confirmed to exist.
    assert_error(client.delete(path, headers=stranger.auth), 404)
    assert stock_of(db, item) == (2, 3)
    assert client.delete(path, headers=owner.auth).status_code == 204
    assert stock_of(db, item) == (5, 0)
    # Released once: a second release finds nothing and returns nothing.
    assert_error(client.delete(path, headers=owner.auth), 404)
    assert stock_of(db, item) == (5, 0)
    assert client.get(f"/api/stock/{item}").json()["available"] == 5


def test_reservation_rules(client: httpx.Client, make_product: Callable[..., str]) -> None:
    account = register(client)
    item = make_product(available=5)
    assert_error(client.post(f"/api/stock/{item}/reserve", json={"quantity": 1}), 401)
    assert_error(reserve(client, account, item, 6), 409, "insufficient stock")
    assert_error(reserve(client, account, item, 0), 422, "positive")
    assert_error(reserve(client, account, item, 1, ttl_seconds=10**6), 422, "ttl_seconds")
    assert_error(reserve(client, account, "no-such-item", 1), 404)
    bad = client.post(f"/api/stock/{item}/reserve", json={"quantity": "two"}, headers=account.auth)
    assert_error(bad, 400, "quantity")
    # The anonymous "release N units of an item" is gone: units are released by reservation.
    gone = client.post(f"/api/stock/{item}/release", json={"quantity": 1}, headers=account.auth)
    assert gone.status_code in {404, 405}


def test_one_user_cannot_hold_everything(
    client: httpx.Client, make_product: Callable[..., str]
) -> None:
    hoarder, shopper = register(client), register(client)
    item = make_product(available=100)
    assert reserve(client, hoarder, item, 6).status_code == 201
    assert reserve(client, hoarder, item, 4).status_code == 201
    assert_error(reserve(client, hoarder, item, 1), 409, "at most 10")
    assert reserve(client, shopper, item, 10).status_code == 201


def test_expired_reservations_return_their_units_by_themselves(
    base_env: dict[str, str], logs_dir: Path, make_product: Callable[..., str], db: Database
) -> None:
    env = {**base_env, "RESERVATION_SWEEP_SECONDS": "0.5"}
    with api_process(env, logs_dir, "api-sweeper") as url, httpx.Client(base_url=url) as client:
        forgetful = register(client)
        item = make_product(available=5)
        created = reserve(client, forgetful, item, 5, ttl_seconds=1)
        assert created.status_code == 201, created.text
        # Nobody touches the item: the API's sweeper alone puts the units back.
        wait_until(lambda: stock_of(db, item) == (5, 0), timeout=30)
        assert held_in_reservations(db, item) == 0
        assert client.get(f"/api/stock/{item}").json()["available"] == 5
        # Gone for good: releasing it now returns nothing a second time.
        released = client.delete(
            f"/api/reservations/{created.json()['id']}", headers=forgetful.auth
        )
        assert_error(released, 404)
        assert stock_of(db, item) == (5, 0)


def test_an_expired_hold_is_available_to_the_next_reserve_at_once(
    base_env: dict[str, str], logs_dir: Path, make_product: Callable[..., str], db: Database
) -> None:
    """With the sweeper as good as off, the reserve itself returns expired holds first."""
    env = {**base_env, "RESERVATION_SWEEP_SECONDS": "3600"}
    with api_process(env, logs_dir, "api-no-sweep") as url, httpx.Client(base_url=url) as http:
        first, second = register(http), register(http)
        item = make_product(available=4)
        assert reserve(http, first, item, 4, ttl_seconds=1).status_code == 201
        wait_until(
            lambda: (
                db.value(
                    "SELECT count(*) FROM reservations WHERE item_id = $1 AND expires_at <= now()",
                    item,
                )
                == 1
            )
        )
        assert stock_of(db, item) == (0, 4)  # expired, not yet returned
        taken = reserve(http, second, item, 4)
        assert taken.status_code == 201, taken.text
        assert stock_of(db, item) == (0, 4) and held_in_reservations(db, item) == 4
        assert [r["id"] for r in http.get("/api/reservations", headers=second.auth).json()] == [
            taken.json()["id"]
        ]


def test_orders_units_are_out_of_reach_of_reservations(
    client: httpx.Client, make_product: Callable[..., str], db: Database, worker: WorkerControl
) -> None:
    buyer, other = register(client), register(client)
    item = make_product(available=3, price=500)
    worker.stop()  # the order stays pending: its units stay reserved
    line = {"item_id": item, "quantity": 3, "price": 500}
    order = client.post("/api/orders", json={"items": [line]}, headers=buyer.auth).json()
    assert stock_of(db, item) == (0, 3)
    for account in (buyer, other):
        assert_error(client.delete(f"/api/reservations/{order['id']}", headers=account.auth), 404)
        assert_error(reserve(client, account, item, 1), 409, "insufficient stock")
        # What a stranger could do before: release units that back someone's order.
        anonymous_release = client.post(
            f"/api/stock/{item}/release", json={"quantity": 3}, headers=account.auth
        )
        assert not anonymous_release.is_success
    assert stock_of(db, item) == (0, 3)
    worker.start()
    wait_until(
        lambda: (
            client.get(f"/api/orders/{order['id']}", headers=buyer.auth).json()["status"]
            == "confirmed"
        )
    )
    # Settled from what the order held: nothing was lost, nothing sold twice.
    assert stock_of(db, item) == (0, 0)


def test_fifty_concurrent_reservations_never_oversell(
    client: httpx.Client, api_url: str, make_product: Callable[..., str], db: Database
) -> None:
    accounts = [register(client) for _ in range(10)]
    item = make_product(available=20)

    async def storm() -> list[int]:
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
            responses = await asyncio.gather(
                *(
                    http.post(
                        f"/api/stock/{item}/reserve", json={"quantity": 1}, headers=account.auth
                    )
                    for account in accounts
                    for _ in range(5)
                )
            )
        return [r.status_code for r in responses]

    statuses = Counter(asyncio.run(storm()))
    assert statuses == {201: 20, 409: 30}
    assert stock_of(db, item) == (0, 20)
    assert held_in_reservations(db, item) == 20


def test_releases_racing_expiry_lose_and_duplicate_nothing(
    base_env: dict[str, str], logs_dir: Path, make_product: Callable[..., str], db: Database
) -> None:
    """Owners release, the sweeper and other reserves end the same expired holds, all at once:
    every unit ends up back exactly once."""
    env = {**base_env, "RESERVATION_SWEEP_SECONDS": "0.2"}  # the sweeper races too
    with (
        api_process(env, logs_dir, "api-race") as api_url,
        httpx.Client(base_url=api_url) as client,
    ):
        _race(client, api_url, make_product, db)


def _race(
    client: httpx.Client, api_url: str, make_product: Callable[..., str], db: Database
) -> None:
    accounts = [register(client) for _ in range(4)]
    item = make_product(available=40)
    held = [
        reserve(client, account, item, 1, ttl_seconds=1).json()["id"]
        for account in accounts
        for _ in range(10)
    ]
    available, reserved = stock_of(db, item)
    assert available + reserved == 40 and reserved == held_in_reservations(db, item)
    wait_until(
        lambda: (
            db.value(
                "SELECT count(*) FROM reservations WHERE item_id = $1 AND expires_at > now()", item
            )
            == 0
        )
    )
    late = register(client)

    async def storm() -> list[int]:
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
            releases = [
                http.delete(f"/api/reservations/{rid}", headers=accounts[n // 10].auth)
                for n, rid in enumerate(held)
            ]
            reserves = [
                http.post(f"/api/stock/{item}/reserve", json={"quantity": 1}, headers=late.auth)
                for _ in range(5)
            ]
            return [r.status_code for r in await asyncio.gather(*releases, *reserves)]

    statuses = asyncio.run(storm())
    assert set(statuses[:40]) <= {204, 404} and set(statuses[40:]) == {201}
    wait_until(lambda: held_in_reservations(db, item) == 5)
    available, reserved = stock_of(db, item)
    assert (available, reserved) == (35, 5), (available, reserved)


def _has_status(client: httpx.Client, url: str, account: Account, status: str) -> bool:
    return bool(client.get(url, headers=account.auth).json()["status"] == status)


def order_with(
    client: httpx.Client, account: Account, item: str, quantity: int, reservation_id: str
) -> httpx.Response:
    line = {"item_id": item, "quantity": quantity, "price": 1000, "reservation_id": reservation_id}
    return client.post("/api/orders", json={"items": [line]}, headers=account.auth)


def test_an_order_takes_over_its_owners_reservation(
    client: httpx.Client, make_product: Callable[..., str], worker: WorkerControl, db: Database
) -> None:
    """Reserve, then order: the order uses the held units (none reserved twice), whatever the
    line's quantity; the reservation ends with it, and only its owner can use it."""
    owner, stranger = register(client), register(client)
    item = make_product(available=10)
    for line_quantity, after_order in ((3, (7, 3)), (5, (5, 5)), (2, (8, 2))):
        # The order stays pending until the checks below are done: the worker would settle
        # its units (reserved -> 0) within milliseconds of the commit.
        worker.stop()
        db.execute("UPDATE products SET available = 10, reserved = 0 WHERE id = $1", item)
        held = reserve(client, owner, item, 3).json()
        assert stock_of(db, item) == (7, 3)
        assert_error(order_with(client, stranger, item, 1, held["id"]), 409, "not a live")
        created = order_with(client, owner, item, line_quantity, held["id"])
        assert created.status_code == 201, created.text
        assert stock_of(db, item) == after_order, (line_quantity, created.json())
        assert held_in_reservations(db, item) == 0
        assert client.get("/api/reservations", headers=owner.auth).json() == []
        # Taken once: neither a second order nor a release gets the units again.
        assert_error(order_with(client, owner, item, 1, held["id"]), 409, "not a live")
        assert_error(client.delete(f"/api/reservations/{held['id']}", headers=owner.auth), 404)
        order_url = f"/api/orders/{created.json()['id']}"
        worker.start()
        wait_until(partial(_has_status, client, order_url, owner, "confirmed"))
        # Settlement consumed exactly the line's units, nothing of anybody else's.
        assert stock_of(db, item) == (after_order[0], 0)


def test_a_reservation_of_another_item_or_expired_is_refused(
    client: httpx.Client, make_product: Callable[..., str], db: Database
) -> None:
    owner = register(client)
    item, other = make_product(available=5), make_product(available=5)
    held = reserve(client, owner, item, 2).json()
    assert_error(order_with(client, owner, other, 1, held["id"]), 409, "not a live")
    db.execute(
        "UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = $1::uuid",
        held["id"],
    )
    assert_error(order_with(client, owner, item, 1, held["id"]), 409, "not a live")
    # A refused order changes nothing: the expired hold is still the sweeper's to return.
    assert stock_of(db, item) == (3, 2)
