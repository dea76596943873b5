"""The PostgreSQL pod deleted: the StatefulSet brings it back on the same volume with the data,
and the API recovers on its own (readiness follows the database; liveness never did)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx

from tests.e2e.cluster import condition, pod_uids, pods, restarts
from tests.e2e.shop import in_stock_product, place_order, register
from tests.testbed.wait import wait_until

if TYPE_CHECKING:
    from k8s.e2e.install import Install


def _data_claim(pod: dict[str, Any]) -> str:
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "data"]
    return str(volume["persistentVolumeClaim"]["claimName"])


def test_postgresql_pod_deleted_comes_back_with_its_data(
    e2e_install: Install, api_url: str
) -> None:
    api_before, restarts_before = pod_uids(e2e_install, "api"), restarts(e2e_install)
    with httpx.Client(base_url=api_url, timeout=30) as client:
        account = register(client, "pgrestart")
        response = place_order(client, account, in_stock_product(client))
        assert response.status_code == 201, response.text
        order_id = response.json()["id"]

        (old,) = pods(e2e_install, "postgresql")
        e2e_install.kubectl("delete", "pod", old["metadata"]["name"], "-n", e2e_install.namespace)
        deleted = time.monotonic()
        wait_until(
            lambda: any(
                p["metadata"]["uid"] != old["metadata"]["uid"] and condition(p, "Ready") == "True"
                for p in pods(e2e_install, "postgresql")
            ),
            timeout=180,
            what="a new PostgreSQL pod Ready",
        )
        postgres_back = time.monotonic() - deleted

        def api_serves() -> bool:
            try:
                got = client.get(f"/api/orders/{order_id}", headers=account.auth)
            except httpx.HTTPError:
                return False
            return got.status_code == 200 and got.json()["id"] == order_id

        wait_until(api_serves, timeout=120, what="the API to read the order again")
        api_back = time.monotonic() - deleted
        # The user and the order written before the restart are still there: same volume.
        assert (
            client.get("/api/user", headers=account.auth).json()["user"]["username"]
            == account.username
        )
    (new,) = pods(e2e_install, "postgresql")
    assert _data_claim(new) == _data_claim(old)
    wait_until(
        lambda: all(condition(p, "Ready") == "True" for p in pods(e2e_install, "api")),
        timeout=60,
        what="API pods Ready",
    )
    print(f"postgres pod deleted: Ready again after {postgres_back:.0f}s, API serving after "
          f"{api_back:.0f}s, API pods unchanged and not restarted")  # fmt: skip
    assert pod_uids(e2e_install, "api") == api_before
    after = restarts(e2e_install)
    assert {k: v for k, v in after.items() if "-api-" in k} == {
        k: v for k, v in restarts_before.items() if "-api-" in k
    }
