"""The order pipeline: orders accepted by the API and confirmed by the worker, per second, and
how long a message waits before the worker starts it.

The real API (core 0) and the real worker (unpinned: its four threads and the outbox relay may
use either core), both with telemetry fully on, exporting to a Collector of their own so the
spans of this phase are all there is to read.

1. **Capacity**: wrk POSTs orders (one line each, over the 12 demo items) on 16 connections
   for a fixed time; then the harness waits until no order is pending or processing.
   ``accepted/s`` = 201 answers / wrk's duration; ``confirmed/s`` = confirmed orders / time
   from the first order's ``created_at`` to the last confirmation's ``updated_at``
   (PostgreSQL clock, so it includes draining whatever backlog the API built up).
2. **Latency at a fixed rate** (half the confirmation rate unless ``BENCH_PIPELINE_RATE``):
   open-loop POSTs, then enqueue-to-start from the Collector's spans. Each order's trace holds
   the API's ``POST /api/orders`` server span, the relay's PRODUCER span ``send orders`` and
   the worker's CONSUMER span ``process orders`` (its child). *Enqueue-to-start* = consumer
   start - producer end: the time the message sat in Redis until a worker thread took it.
   *Accept-to-start* = consumer start - server span end: adds the outbox relay (NOTIFY wake-up,
   publish) — what a customer waits before their order is being processed.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from argon2 import PasswordHasher
from tests.support.collector import CollectorProcess, Span

from bench.load import openloop, wrk
from bench.openloop import percentile
from bench.servers import LOAD_CPUS, SERVER_CPUS, Server, pin_pid, telemetry_env
from bench.settings import BenchSettings
from orderflow.devservices import free_port
from orderflow.domain.users import security
from orderflow.domain.users.security import hash_password, verify_password
from orderflow.seed import DEMO_PRODUCTS

Log = Callable[[str], None]
ORDER_BODIES = [
    json.dumps({"items": [{"item_id": item, "quantity": 1, "price": price}]})
    for item, _name, price in DEMO_PRODUCTS
]
LOGIN_SAMPLES = 15


async def _query(database_url: str, sql: str, *args: object) -> Any:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchrow(sql, *args)
    finally:
        await connection.close()


def _db_now(database_url: str) -> Any:
    return asyncio.run(_query(database_url, "SELECT now() AS now"))["now"]


def _wait_drained(database_url: str, timeout: float = 180.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        row = asyncio.run(
            _query(
                database_url,
                "SELECT count(*) AS open FROM orders WHERE status IN ('pending', 'processing')",
            )
        )
        if row["open"] == 0:
            return time.monotonic() - started
        time.sleep(0.25)
    raise TimeoutError(f"orders still open after {timeout}s: is the worker running?")


def _settled_since(database_url: str, since: Any) -> dict[str, Any]:
    row = asyncio.run(
        _query(
            database_url,
            "SELECT count(*) AS total,"
            " count(*) FILTER (WHERE status = 'confirmed') AS confirmed,"
            " extract(epoch FROM max(updated_at) FILTER (WHERE status = 'confirmed')"
            "   - min(created_at)) AS span_s"
            " FROM orders WHERE created_at >= $1",
            since,
        )
    )
    span_s = float(row["span_s"] or 0.0)
    return {
        "orders": row["total"],
        "confirmed": row["confirmed"],
        "first_created_to_last_confirmed_s": span_s,
        "confirmed_per_s": row["confirmed"] / span_s if span_s else 0.0,
    }


def login_timing(base_url: str) -> dict[str, Any]:
    """``POST /api/login`` one at a time (argon2id verification dominates), and the same
    verification in-process without HTTP."""
    samples: list[float] = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for _ in range(LOGIN_SAMPLES):
            begun = time.perf_counter()
            response = client.post(
                "/api/login", json={"email": "bench@example.test", "password": "bench-password-123"}
            )
            samples.append(time.perf_counter() - begun)
            response.raise_for_status()
    stored = hash_password("bench-password-123")
    local: list[float] = []
    for _ in range(LOGIN_SAMPLES):
        begun = time.perf_counter()
        verify_password(stored, "bench-password-123")
        local.append(time.perf_counter() - begun)
    # The product's own hasher (private, read only to report its parameters).
    hasher = getattr(security, "_hasher", None) or PasswordHasher()
    return {
        "http_login_median_ms": statistics.median(samples) * 1000,
        "http_login_max_ms": max(samples) * 1000,
        "verify_median_ms": statistics.median(local) * 1000,
        "argon2": {
            "time_cost": hasher.time_cost,
            "memory_cost_kib": hasher.memory_cost,
            "parallelism": hasher.parallelism,
        },
    }


def queue_latencies(spans: list[Span], since_ns: int) -> dict[str, Any]:
    """Enqueue-to-start and accept-to-start of every order whose POST began after ``since_ns``."""
    by_id = {s.span_id: s for s in spans}
    accepted = {
        s.trace_id: s
        for s in spans
        if s.kind == "SPAN_KIND_SERVER"
        and s.name == "POST /api/orders"
        and s.start_time_unix_nano >= since_ns
    }
    first_consumer: dict[str, Span] = {}
    for span in spans:
        if (
            span.kind == "SPAN_KIND_CONSUMER"
            and span.attributes.get("messaging.dramatiq.actor") == "process_order"
            and span.trace_id in accepted
        ):
            seen = first_consumer.get(span.trace_id)
            if seen is None or span.start_time_unix_nano < seen.start_time_unix_nano:
                first_consumer[span.trace_id] = span
    enqueue_to_start: list[float] = []
    accept_to_start: list[float] = []
    for trace_id, consumer in first_consumer.items():
        producer = by_id.get(consumer.parent_span_id or "")
        if producer is not None:
            enqueue_to_start.append(
                (consumer.start_time_unix_nano - producer.end_time_unix_nano) / 1e6
            )
        accept_to_start.append(
            (consumer.start_time_unix_nano - accepted[trace_id].end_time_unix_nano) / 1e6
        )

    def summary(values: list[float]) -> dict[str, float | int]:
        ordered = sorted(values)
        return {
            "n": len(ordered),
            "p50_ms": percentile(ordered, 50),
            "p99_ms": percentile(ordered, 99),
            "max_ms": ordered[-1] if ordered else float("nan"),
        }

    return {
        "orders_traced": len(accepted),
        "orders_with_consumer_span": len(first_consumer),
        "enqueue_to_start": summary(enqueue_to_start),
        "accept_to_start": summary(accept_to_start),
    }


def run(
    base: dict[str, str], token: str, workdir: Path, settings: BenchSettings, *, log: Log
) -> dict[str, Any]:
    database_url = base["DATABASE_URL"]
    collector = CollectorProcess(workdir / "collector-pipeline").start()
    if collector.pid:
        pin_pid(collector.pid, LOAD_CPUS)
    port = free_port()
    api = Server(
        "pipeline-api",
        ["orderflow.cli", "api"],
        # The saga's emails go to the API's stand-in provider, which it serves only when told.
        {**base, **telemetry_env(collector, "orderflow-api"), "EMAIL_SINK_ENABLED": "true"},
        port,
        workdir / "pipeline-api.log",
        SERVER_CPUS,
    )
    worker = Server(
        "pipeline-worker",
        ["orderflow.cli", "worker"],
        {
            **base,
            **telemetry_env(collector, "orderflow-worker"),
            "EMAIL_SINK_URL": f"http://127.0.0.1:{port}/_sink/email",
        },
        0,
        workdir / "pipeline-worker.log",
        None,  # both cores: see the module docstring
    )
    try:
        api.start().wait_ready()
        worker.start()
        deadline = time.monotonic() + 60
        while "worker started" not in worker.log():
            if time.monotonic() > deadline or worker.process is None or worker.process.poll():
                raise RuntimeError(f"worker did not start:\n{worker.log()[-4000:]}")
            time.sleep(0.2)
        login = login_timing(api.base_url)
        log(f"login median {login['http_login_median_ms']:.1f} ms over HTTP")
        url = api.base_url + "/api/orders"
        authorization = f"Bearer {token}"

        # Warm-up: a few orders through the whole saga (connections, statement caches).
        wrk(url, duration=1, connections=4, method="POST", bodies=ORDER_BODIES,
            authorization=authorization)  # fmt: skip
        _wait_drained(database_url)

        since = _db_now(database_url)
        capacity = wrk(
            url,
            duration=settings.pipeline_seconds,
            connections=16,
            method="POST",
            bodies=ORDER_BODIES,
            authorization=authorization,
        )
        drain_s = _wait_drained(database_url)
        capacity_settled = _settled_since(database_url, since)
        accepted = capacity["requests"] - capacity["errors"]["status"]
        capacity["accepted_per_s"] = accepted / (capacity["duration_us"] / 1e6)
        log(
            f"pipeline capacity: accepted {capacity['accepted_per_s']:.0f}/s, confirmed "
            f"{capacity_settled['confirmed_per_s']:.0f}/s (drain {drain_s:.1f} s)"
        )

        rate = settings.pipeline_rate or max(1.0, round(capacity_settled["confirmed_per_s"] / 2))
        since = _db_now(database_url)
        since_ns = time.time_ns()
        fixed = openloop(
            url,
            rate=rate,
            duration=settings.pipeline_seconds,
            method="POST",
            bodies=ORDER_BODIES,
            headers=[f"authorization: {authorization}"],
        )
        _wait_drained(database_url)
        fixed_settled = _settled_since(database_url, since)
        expected = fixed_settled["orders"]
        try:
            collector.wait_for_spans(
                lambda s: (
                    s.kind == "SPAN_KIND_CONSUMER"
                    and s.attributes.get("messaging.dramatiq.actor") == "process_order"
                    and s.start_time_unix_nano >= since_ns
                ),
                timeout=30,
                count=expected,
            )
        except RuntimeError as exc:
            log(f"not every consumer span arrived: {str(exc)[:200]}")
        latencies = queue_latencies(collector.spans(), since_ns)
        log(
            f"pipeline @{rate:.0f}/s: enqueue-to-start p99 "
            f"{latencies['enqueue_to_start']['p99_ms']:.1f} ms, accept-to-start p99 "
            f"{latencies['accept_to_start']['p99_ms']:.1f} ms"
        )
        # A message that raised is retried with back-off: its retries would load the worker
        # and the numbers above would measure a failing pipeline. Dramatiq logs each failed
        # attempt (retries included) once, warm-up included.
        failed = worker.log().count("Failed to process message")
        if failed:
            log(f"WARNING: {failed} message attempts raised in the worker (pipeline-worker.log)")
        return {
            "failed_attempts": failed,
            "capacity": {"wrk": capacity, **capacity_settled, "drain_s": drain_s},
            "fixed_rate": {"rate": rate, "openloop": fixed, **fixed_settled, **latencies},
            "login": login,
            "peak_rss_mib": {"api": api.peak_rss_mib(), "worker": worker.peak_rss_mib()},
        }
    finally:
        worker.stop()
        api.stop()
        collector.stop()
