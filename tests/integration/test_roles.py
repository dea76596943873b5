"""Roles: customers may only cancel their orders; shipped and delivered are staff's, and staff
are made only from the command line."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.integration.conftest import WorkerControl
from tests.support.api_client import Account, assert_error, register
from tests.support.processes import run_cli, wait_until


def confirmed_order(client: httpx.Client, account: Account, item: str) -> str:
    line = {"item_id": item, "quantity": 1, "price": 1000}
    order_id: str = client.post("/api/orders", json={"items": [line]}, headers=account.auth).json()[
        "id"
    ]

    def status() -> str:
        found: str = client.get(f"/api/orders/{order_id}", headers=account.auth).json()["status"]
        return found

    wait_until(lambda: status() == "confirmed")
    return order_id


def test_customers_cannot_fulfil_their_own_orders(
    client: httpx.Client, make_product: Callable[..., str], worker: WorkerControl
) -> None:
    customer = register(client)
    assert client.get("/api/user", headers=customer.auth).json()["user"]["role"] == "customer"
    order_id = confirmed_order(client, customer, make_product())
    for status in ("shipped", "delivered"):
        response = client.patch(
            f"/api/orders/{order_id}/status", json={"status": status}, headers=customer.auth
        )
        assert_error(response, 403, "only staff")
    # Cancelling stays theirs.
    cancelled = client.patch(
        f"/api/orders/{order_id}/status", json={"status": "cancelled"}, headers=customer.auth
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def test_staff_fulfil_anyones_order_and_the_role_can_be_revoked(
    client: httpx.Client,
    make_product: Callable[..., str],
    worker: WorkerControl,
    make_staff: Callable[[httpx.Client], Account],
    base_env: dict[str, str],
) -> None:
    customer, staff = register(client), make_staff(client)
    assert client.get("/api/user", headers=staff.auth).json()["user"]["role"] == "staff"
    order_id = confirmed_order(client, customer, make_product())
    path = f"/api/orders/{order_id}/status"
    assert client.get(f"/api/orders/{order_id}", headers=staff.auth).status_code == 200
    shipped = client.patch(path, json={"status": "shipped"}, headers=staff.auth)
    assert shipped.status_code == 200 and shipped.json()["status"] == "shipped"
    # Staff get the state machine too.
    assert_error(client.patch(path, json={"status": "cancelled"}, headers=staff.auth), 409)
    # The role is read on every request: revoked, the same token is a stranger's again.
    assert run_cli(base_env, "staff", "revoke", staff.email).returncode == 0
    assert_error(client.patch(path, json={"status": "delivered"}, headers=staff.auth), 404)
    assert client.get(f"/api/orders/{order_id}", headers=customer.auth).json()["status"] == (
        "shipped"
    )


def test_staff_cannot_be_granted_to_nobody(base_env: dict[str, str]) -> None:
    result = run_cli(base_env, "staff", "grant", "nobody-at-all@example.test")
    assert result.returncode != 0 and "no user" in result.stderr
