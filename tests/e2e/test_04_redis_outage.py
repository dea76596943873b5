"""A Redis outage on real pods, under traffic: the API stays Ready and keeps taking orders (the
outbox) and serving reads (database fallback); the worker's readiness gate closes; nothing
restarts. Redis back: the gate opens and every order accepted during the outage settles."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx

from tests.e2e.cluster import GATE, condition, pod_uids, pods, restarts
from tests.e2e.shop import in_stock_product, place_order, register, wait_settled
from tests.testbed.wait import wait_until

if TYPE_CHECKING:
    from k8s.e2e.install import Install

ORDERS_DURING_OUTAGE = 12


def _scale_redis(install: Install, replicas: int) -> None:
    install.kubectl(
        "scale", f"deployment/{install.release}-redis", f"--replicas={replicas}",
        "-n", install.namespace,
    )  # fmt: skip


def test_redis_outage_keeps_the_api_serving_and_gates_only_the_worker(
    e2e_install: Install, api_url: str
) -> None:
    before = restarts(e2e_install)
    api_pods, worker_pods = pod_uids(e2e_install, "api"), pod_uids(e2e_install, "worker")
    with httpx.Client(base_url=api_url, timeout=30) as client:
        account = register(client, "outage")
        product = in_stock_product(client, ORDERS_DURING_OUTAGE)

        _scale_redis(e2e_install, 0)
        stopped = time.monotonic()
        try:
            wait_until(lambda: not pods(e2e_install, "redis"), timeout=90, what="redis gone")
            # The operator checks every intervalSeconds: the worker's gate closes ...
            wait_until(
                lambda: all(condition(p, GATE) == "False" for p in pods(e2e_install, "worker")),
                timeout=90,
                what="the worker's readiness gate to close",
            )
            gate_closed = time.monotonic() - stopped
            accepted, reads = [], 0
            for _ in range(ORDERS_DURING_OUTAGE):
                response = place_order(client, account, product)
                assert response.status_code == 201, response.text
                accepted.append(response.json()["id"])
                stock = client.get(f"/api/stock/{product['item_id']}")
                assert stock.status_code == 200, stock.text
                reads += 1
            # ... while the API stays in its Service.
            for pod in pods(e2e_install, "api"):
                assert condition(pod, "Ready") == "True", pod["status"]["conditions"]
                assert condition(pod, GATE) == "True", "Redis is not critical for the API"
            for pod in pods(e2e_install, "worker"):
                assert condition(pod, "Ready") == "False"
        finally:
            _scale_redis(e2e_install, 1)
        back = time.monotonic()
        wait_until(
            lambda: all(
                condition(p, "Ready") == "True" and condition(p, GATE) == "True"
                for p in pods(e2e_install, "worker")
            ),
            timeout=180,
            what="the worker to be Ready again",
        )
        reopened = time.monotonic() - back
        settled = wait_settled(client, account, accepted, timeout=240)
        drained = time.monotonic() - back
    print(
        f"redis outage: gate closed after {gate_closed:.0f}s; {len(accepted)} orders accepted "
        f"(201) and {reads} reads served during it; worker Ready {reopened:.0f}s after Redis "
        f"returned; all settled {drained:.0f}s after: {sorted(settled.values())}"
    )
    assert set(settled.values()) <= {"confirmed", "failed"}, settled
    assert len(settled) == ORDERS_DURING_OUTAGE
    # Nothing restarted, nothing was replaced.
    after = restarts(e2e_install)
    assert {k: v for k, v in after.items() if "redis" not in k} == {
        k: v for k, v in before.items() if "redis" not in k
    }
    assert pod_uids(e2e_install, "api") == api_pods
    assert pod_uids(e2e_install, "worker") == worker_pods
