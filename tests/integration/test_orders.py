"""Orders through the API: creation reserves stock atomically, reads are per user, the status
machine refuses invalid moves, and the worker's saga settles every order."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.integration.conftest import WorkerControl
from tests.support.api_client import Account, assert_error, register
from tests.support.database import Database
from tests.support.email_sink import RecordingEmailSink
from tests.support.processes import wait_until


def place(
    client: httpx.Client, account: Account, item: str, quantity: int = 1, price: int = 1000
) -> httpx.Response:
    return client.post(
        "/api/orders",
        json={"items": [{"item_id": item, "quantity": quantity, "price": price}]},
        headers=account.auth,
    )


def status_of(client: httpx.Client, account: Account, order_id: str) -> str:
    status: str = client.get(f"/api/orders/{order_id}", headers=account.auth).json()["status"]
    return status


def test_order_is_confirmed_by_the_saga_and_emailed_once(
    client: httpx.Client,
    make_product: Callable[..., str],
    worker: WorkerControl,
    email_sink: RecordingEmailSink,
    db: Database,
) -> None:
    account = register(client)
    item = make_product(available=5, price=250)
    created = place(client, account, item, quantity=2, price=250)
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["status"] == "pending" and order["total"] == 500
    assert order["customer_id"] == account.username
    wait_until(lambda: status_of(client, account, order["id"]) == "confirmed")
    wait_until(lambda: len(email_sink.for_order(order["id"])) == 1)
    mail = email_sink.for_order(order["id"])[0]
    assert mail["to"] == account.email and "confirmed" in mail["subject"]
    # Paid units left the warehouse: no longer reserved, not available again.
    row = db.fetch("SELECT available, reserved FROM products WHERE id = $1", item)[0]
    assert (row["available"], row["reserved"]) == (3, 0)


def test_reads_are_per_user_and_nplus1_matches(
    client: httpx.Client, make_product: Callable[..., str]
) -> None:
    alice, bob = register(client), register(client)
    item = make_product(available=10)
    ids = [place(client, alice, item).json()["id"] for _ in range(3)]
    listed = client.get("/api/orders", headers=alice.auth).json()
    assert sorted(o["id"] for o in listed) == sorted(ids)
    slow = client.get("/api/orders-nplus1", headers=alice.auth).json()
    assert [o["id"] for o in slow] == [o["id"] for o in listed]
    assert [o["items"] for o in slow] == [o["items"] for o in listed]
    assert client.get("/api/orders", headers=bob.auth).json() == []
    assert_error(client.get(f"/api/orders/{ids[0]}", headers=bob.auth), 404)
    assert_error(client.get("/api/orders"), 401)
    assert_error(client.get("/api/orders/not-a-uuid", headers=alice.auth), 404)


def test_rejected_orders_leave_nothing_behind(
    client: httpx.Client, make_product: Callable[..., str], db: Database
) -> None:
    account = register(client)
    plenty, scarce = make_product(available=10), make_product(available=1)
    before = db.value("SELECT count(*) FROM orders")
    two_lines = {
        "items": [
            {"item_id": plenty, "quantity": 2, "price": 1000},
            {"item_id": scarce, "quantity": 2, "price": 1000},
        ]
    }
    assert_error(
        client.post("/api/orders", json=two_lines, headers=account.auth), 409, "insufficient"
    )
    assert_error(place(client, account, plenty, price=1), 409, "price")
    assert_error(place(client, account, "no-such-item"), 404)
    assert_error(client.post("/api/orders", json={"items": []}, headers=account.auth), 422)
    assert_error(
        client.post("/api/orders", json={"items": [{"item_id": plenty}]}, headers=account.auth),
        400,
        "quantity",
    )
    huge = client.post(
        "/api/orders",
        content=b'{"items": [' + b'{"item_id": "x", "quantity": 1, "price": 1},' * 40_000 + b"]}",
        headers={**account.auth, "content-type": "application/json"},
    )
    assert_error(huge, 413)
    # The first line's reservation was rolled back with the failed order.
    assert db.value("SELECT available FROM products WHERE id = $1", plenty) == 10
    assert db.value("SELECT reserved FROM products WHERE id = $1", plenty) == 0
    assert db.value("SELECT count(*) FROM orders") == before


def test_status_transitions(
    client: httpx.Client,
    make_product: Callable[..., str],
    worker: WorkerControl,
    db: Database,
    make_staff: Callable[[httpx.Client], Account],
) -> None:
    account = register(client)
    item = make_product(available=4)
    worker.stop()  # keep the order pending while we cancel it
    order_id = place(client, account, item, quantity=3).json()["id"]
    patch = f"/api/orders/{order_id}/status"
    assert_error(
        client.patch(patch, json={"status": "confirmed"}, headers=account.auth), 409, "saga"
    )
    assert_error(client.patch(patch, json={"status": "delivered"}, headers=account.auth), 403)
    assert_error(client.patch(patch, json={"status": "bogus"}, headers=account.auth), 400)
    cancelled = client.patch(patch, json={"status": "cancelled"}, headers=account.auth)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert db.value("SELECT available FROM products WHERE id = $1", item) == 4
    assert_error(client.patch(patch, json={"status": "shipped"}, headers=account.auth), 403)
    # The worker, back, finds the cancelled order and leaves it alone.
    worker.start()
    confirmed_id = place(client, account, item).json()["id"]
    wait_until(lambda: status_of(client, account, confirmed_id) == "confirmed")
    assert status_of(client, account, order_id) == "cancelled"
    ship = f"/api/orders/{confirmed_id}/status"
    # Fulfilment is staff's: the customer may not declare their own order shipped...
    assert_error(client.patch(ship, json={"status": "shipped"}, headers=account.auth), 403, "staff")
    staff = make_staff(client)
    assert client.patch(ship, json={"status": "shipped"}, headers=staff.auth).status_code == 200
    assert_error(client.patch(ship, json={"status": "delivered"}, headers=account.auth), 403)
    delivered = client.patch(ship, json={"status": "delivered"}, headers=staff.auth)
    assert delivered.json()["status"] == "delivered"
    assert_error(client.patch(ship, json={"status": "cancelled"}, headers=account.auth), 409)
