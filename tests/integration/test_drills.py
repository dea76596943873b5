"""Outage drills with numbers, on real processes and servers, under ``orderflow traffic``:
PostgreSQL stopped for 30 s, Redis stopped for 30 s, the worker SIGKILLed three times.

Every order that got 201 must end confirmed or failed, settled once (the stock adds up to the
unit); during the outages the API answers 503 with Retry-After, never another 5xx. The test
prints what it measured: answers per phase, and how long recovery took after each dependency
came back.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from orderflow.devservices import Postgres, Redis, free_port
from tests.support.api_client import Account, register
from tests.support.database import Database
from tests.support.processes import ServiceProcess, run_cli, wait_http_ok, wait_until

OUTAGE_SECONDS = 30.0
ITEMS = 4
STOCK_PER_ITEM = 100_000
PRICE = 700


@dataclass
class Answer:
    at: float
    phase: str
    status: int
    retry_after: str | None


@dataclass
class Load:
    """Shoppers placing orders and reading stock in a loop, recording every answer."""

    url: str
    accounts: list[Account]
    items: list[str]
    phase: str = "baseline"
    answers: list[Answer] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        asyncio.run(self._all())

    async def _all(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=15) as http:
            await asyncio.gather(*(self._shopper(http, a) for a in self.accounts))

    def _record(self, response: httpx.Response) -> None:
        self.answers.append(
            Answer(
                time.monotonic(),
                self.phase,
                response.status_code,
                response.headers.get("retry-after"),
            )
        )

    async def _shopper(self, http: httpx.AsyncClient, account: Account) -> None:
        rng = random.Random()
        while not self.stop.is_set():
            item = rng.choice(self.items)
            line = {"item_id": item, "quantity": rng.randint(1, 3), "price": PRICE}
            try:
                placed = await http.post(
                    "/api/orders", json={"items": [line]}, headers=account.auth
                )
                self._record(placed)
                if placed.status_code == 201:
                    self.orders.append(placed.json()["id"])
                self._record(await http.get(f"/api/stock/{item}"))
                self._record(await http.get("/api/orders", headers=account.auth))
            except httpx.HTTPError:
                self.answers.append(Answer(time.monotonic(), self.phase, -1, None))
            await asyncio.sleep(0.05)


@pytest.fixture
def drill_servers() -> Iterator[tuple[Postgres, Redis]]:
    """Servers of the drill's own: stopping them must not disturb the session's."""
    postgres, redis = Postgres().start(), Redis().start()
    try:
        yield postgres, redis
    finally:
        redis.stop()
        postgres.stop()


def _first_success(load: Load, since: float) -> float | None:
    for answer in load.answers:
        if answer.at >= since and answer.status == 201:
            return answer.at - since
    return None


def test_outage_drills(
    drill_servers: tuple[Postgres, Redis], base_env: dict[str, str], logs_dir: Path
) -> None:
    postgres, redis = drill_servers
    port = free_port()
    env = {
        **base_env,
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis.url,
        "PORT": str(port),
        "PAYMENT_FAILURE_RATE": "0.3",
        "DATABASE_POOL_TIMEOUT": "2",
    }
    migrated = run_cli(env, "migrate", "up")
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    db = Database(postgres.url)
    items = [f"drill-{n}-{uuid.uuid4().hex[:6]}" for n in range(ITEMS)]
    for item in items:
        db.execute(
            "INSERT INTO products (id, name, price_cents, available, reserved)"
            " VALUES ($1, $1, $2, $3, 0)",
            item,
            PRICE,
            STOCK_PER_ITEM,
        )
    url = f"http://127.0.0.1:{port}"
    api = ServiceProcess(["api"], env, logs_dir / f"drill-api-{port}.log").start()
    workers: list[ServiceProcess] = []

    def start_worker() -> ServiceProcess:
        log = logs_dir / f"drill-worker-{port}-{len(workers)}.log"
        worker = ServiceProcess(["worker"], env, log).start()
        workers.append(worker)
        return worker

    worker = start_worker()
    traffic: subprocess.Popen[str] | None = None
    try:
        wait_http_ok(f"{url}/healthz", api)
        with httpx.Client(base_url=url, timeout=15) as http:
            accounts = [register(http, prefix="drill") for _ in range(3)]
        load = Load(url, accounts, items)
        runner = threading.Thread(target=load.run, daemon=True)
        runner.start()
        # About as long as the drill: it ends by itself and prints its summary.
        traffic = subprocess.Popen(
            [sys.executable, "-m", "orderflow.cli", "traffic", "--base-url", url,
             "--concurrency", "2", "--duration", "90", "--sleep", "0.2"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        time.sleep(5)

        marks: dict[str, float] = {}
        load.phase = "postgres down"
        postgres.stop(remove=False)
        time.sleep(OUTAGE_SECONDS)
        load.phase = "postgres back"
        postgres.start()
        marks["postgres back"] = time.monotonic()
        wait_until(lambda: _first_success(load, marks["postgres back"]) is not None, timeout=60)
        time.sleep(5)

        load.phase = "redis down"
        redis.stop(remove=False)
        time.sleep(OUTAGE_SECONDS)
        load.phase = "redis back"
        redis.start()
        marks["redis back"] = time.monotonic()
        time.sleep(5)

        for n in range(3):
            load.phase = f"worker killed {n + 1}"
            worker.kill()
            time.sleep(2)
            worker = start_worker()
            time.sleep(6)
        load.phase = "after"
        time.sleep(3)
        load.stop.set()
        runner.join(30)
        traffic_summary = traffic.communicate(timeout=180)[0]
        traffic = None

        def unsettled() -> int:  # every order: the measuring shoppers' and traffic's
            return int(
                db.value("SELECT count(*) FROM orders WHERE status NOT IN ('confirmed', 'failed')")
            )

        settle_started = time.monotonic()
        wait_until(lambda: unsettled() == 0, timeout=180, interval=1)
        settle_seconds = time.monotonic() - settle_started
    finally:
        if traffic is not None:
            traffic.kill()
        for process in (api, *workers):
            process.stop()

    # What was measured.
    by_phase: dict[str, Counter[int]] = {}
    for answer in load.answers:
        by_phase.setdefault(answer.phase, Counter())[answer.status] += 1
    pg_recovery = _first_success(load, marks["postgres back"])
    statuses = dict(
        db.fetch(
            "SELECT status, count(*) FROM orders WHERE id = ANY($1::uuid[]) GROUP BY status",
            load.orders,
        )
    )
    report = [
        f"drill: {len(load.answers)} answers to the measuring shoppers, {len(load.orders)} orders "
        f"accepted (201) by them",
        *(f"  {phase}: {dict(sorted(c.items()))}" for phase, c in by_phase.items()),
        f"  first order accepted {pg_recovery:.1f} s after PostgreSQL was back"
        if pg_recovery is not None
        else "  no order accepted after PostgreSQL came back",
        f"  every accepted order settled {settle_seconds:.1f} s after the load stopped: {statuses}",
        "  orderflow traffic: "
        + (
            " | ".join(
                line
                for line in traffic_summary.splitlines()
                if line.startswith(("traffic:", "status codes:"))
            )
            or traffic_summary[-3000:]
        ),
    ]
    print("\n".join(report))

    # Never a 5xx other than 503; every 503 says when to come back.
    server_errors = {a.status for a in load.answers if a.status >= 500} - {503}
    assert not server_errors, report
    assert all(a.retry_after for a in load.answers if a.status == 503), report
    # orderflow traffic ran through all of it and saw no 5xx but 503 either.
    assert "traffic:" in traffic_summary, traffic_summary[-3000:]
    traffic_statuses = next(
        line for line in traffic_summary.splitlines() if line.startswith("status codes:")
    )
    assert not [
        code
        for code in traffic_statuses.removeprefix("status codes: ").split(", ")
        if code.startswith("5") and not code.startswith("503=")
    ], traffic_statuses
    # The outages were real (PostgreSQL: refused), and the API came back from each.
    assert by_phase["postgres down"][503] > 0, report
    assert by_phase["redis down"][201] > 0, report  # orders wait in the outbox
    assert by_phase["after"][201] > 0, report
    # Every accepted order ended confirmed or failed...
    assert set(statuses) <= {"confirmed", "failed"} and sum(statuses.values()) == len(load.orders)
    # ...and was settled exactly once: what confirmed orders bought left the shelf, what failed
    # orders held came back, nothing is still reserved (traffic's orders included).
    rows = db.fetch("SELECT id, available, reserved FROM products WHERE id = ANY($1)", items)
    sold = dict(
        db.fetch(
            "SELECT i.item_id, sum(i.quantity) FROM order_items i"
            " JOIN orders o ON o.id = i.order_id WHERE o.status = 'confirmed' GROUP BY i.item_id"
        )
    )
    # Traffic's own reservations may still be held (it stops between reserve and release).
    held = dict(db.fetch("SELECT item_id, sum(quantity) FROM reservations GROUP BY item_id"))
    for row in rows:
        item_id = row["id"]
        assert row["reserved"] == int(held.get(item_id, 0)), (row, report)
        on_shelf = STOCK_PER_ITEM - int(sold.get(item_id, 0)) - int(held.get(item_id, 0))
        assert row["available"] == on_shelf, (row, report)
    payments = db.value(
        "SELECT count(*) FROM payments WHERE order_id = ANY($1::uuid[])", load.orders
    )
    assert payments == len(load.orders)
