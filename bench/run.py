"""``make bench``: one run, one table.

1. Throwaway PostgreSQL and Redis, the project's real OpenTelemetry Collector; migrations and
   seed data (a user, an article, the demo catalog with ample stock).
2. Side by side, on the same database: orderflow with telemetry off (``OTEL_SDK_DISABLED``)
   and fully on (100% sampling, metrics and logs over OTLP to the Collector), the FastAPI peer
   and the raw-asyncpg ceiling (bench/peers/).
3. Per endpoint: warm-up, then ``reps`` rounds of closed-loop throughput (wrk, fixed
   connections, fixed duration), then ``reps`` rounds of open-loop latency at one fixed rate
   (bench/openloop.py). The order of the scenarios rotates each round so drift spreads evenly.
   Then ``paired_reps`` rounds with orderflow-on and orderflow-off loaded at the same time on
   the shared server core: their requests per CPU-second, free of drift between rounds.
4. The order pipeline (bench/pipeline.py) and pyinstrument profiles (bench/profiles.py).
5. Raw results as JSON in bench/results/, the table on stdout (and in a .txt beside it).

Run: ``make bench`` (or ``BENCH_QUICK=1 make bench``); knobs in bench/settings.py.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
from tests.support.collector import CollectorProcess
from tests.support.pyroscope import PyroscopeStandIn

from bench import pipeline, profiles, report, zerocode
from bench.backends import running
from bench.load import openloop, wrk
from bench.servers import (
    LOAD_CPUS,
    REPO,
    SERVER_CPUS,
    Server,
    otlp_protocol,
    pin_self_to_load_cpus,
    sampler_env,
    telemetry_env,
)
from bench.settings import BenchSettings
from bench.stats import Spread, loss_pct
from orderflow.devservices import free_port

RESULTS = REPO / "bench" / "results"
SCENARIOS = report.SCENARIOS
#: Peers serve both endpoints from one process each (they have no cache to bypass).
PEERS = {name: name for name in ("fastapi", "fastapi-otel", "litestar-asyncpg", "raw-asyncpg")}
ARTICLE_BODY = (
    "Espresso is brewed by forcing hot water through finely ground coffee. " * 12
).strip()
STOCK_ITEM = "sku-001"


@dataclass(frozen=True)
class Endpoint:
    key: str
    title: str
    path: str
    servers: dict[str, str]  # scenario -> server name


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def create_user_and_article(base_url: str) -> tuple[str, str]:
    """Register the bench user and publish one article through the API; (token, slug)."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        registered = client.post(
            "/api/register",
            json={
                "email": "bench@example.test",
                "username": "bench",
                "password": "bench-password-123",
            },
        )
        registered.raise_for_status()
        token: str = registered.json()["token"]
        created = client.post(
            "/api/articles",
            json={
                "title": "How to brew espresso",
                "description": "A short guide",
                "body": ARTICLE_BODY,
            },
            headers={"authorization": f"Bearer {token}"},
        )
        created.raise_for_status()
        slug: str = created.json()["article"]["slug"]
        return token, slug


def check_same_answer(servers: dict[str, Server], endpoints: list[Endpoint]) -> None:
    """Every scenario must answer 200 with the same fields before it is timed."""
    with httpx.Client(timeout=10) as client:
        for endpoint in endpoints:
            keys: dict[str, list[str]] = {}
            for scenario, name in endpoint.servers.items():
                response = client.get(servers[name].base_url + endpoint.path)
                if response.status_code != 200:
                    raise RuntimeError(
                        f"{scenario} {endpoint.path}: {response.status_code} {response.text}"
                    )
                keys[scenario] = sorted(_flat_keys(response.json()))
            if len({tuple(v) for v in keys.values()}) != 1:
                raise RuntimeError(f"{endpoint.path}: scenarios answer different shapes: {keys}")


def _flat_keys(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        return [k for key, v in value.items() for k in _flat_keys(v, f"{prefix}{key}.")]
    return [prefix]


def timed(server: Server, load: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one load and record what the server process itself consumed meanwhile: on a shared
    machine, requests per CPU-second of the server stays comparable when req/s does not."""
    load_before = os.getloadavg()[0]
    cpu_before, wall_before = server.cpu_seconds(), time.monotonic()
    result = load()
    cpu = server.cpu_seconds() - cpu_before
    wall = time.monotonic() - wall_before
    answered = result.get("requests", result.get("completed", 0))
    result.update(
        server_cpu_s=cpu,
        server_core_share=cpu / wall if wall else 0.0,
        requests_per_cpu_s=answered / cpu if cpu else 0.0,
        loadavg_1m=max(load_before, os.getloadavg()[0]),
        rss_mib=server.rss_mib(),
    )
    return result


def timed_together(
    servers: dict[str, Server], urls: dict[str, str], settings: BenchSettings
) -> dict[str, dict[str, Any]]:
    """One closed-loop run against every given server at once (they share the server core).

    Why: CPU speed on a shared machine drifts by tens of percent within seconds, so two
    servers measured one after the other are measured on different machines. Loaded at the
    same time, the scheduler splits the core between them and every drift hits both: their
    requests per CPU-second compare like for like (throughput does not: each gets the share of
    the core its runnable threads win)."""

    def run(name: str) -> dict[str, Any]:
        load = partial(
            wrk, urls[name], duration=settings.duration, connections=settings.connections
        )
        return timed(servers[name], load)

    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        futures = {name: pool.submit(run, name) for name in servers}
        return {name: future.result() for name, future in futures.items()}  # raises a load error


def _rotated(rep: int) -> tuple[str, ...]:
    shift = rep % len(SCENARIOS)
    return SCENARIOS[shift:] + SCENARIOS[:shift]


def measure_endpoint(
    endpoint: Endpoint, servers: dict[str, Server], settings: BenchSettings
) -> dict[str, Any]:
    urls = {s: servers[name].base_url + endpoint.path for s, name in endpoint.servers.items()}
    closed: dict[str, list[dict[str, Any]]] = {s: [] for s in SCENARIOS}
    opened: dict[str, list[dict[str, Any]]] = {s: [] for s in SCENARIOS}
    warm: dict[str, dict[str, Any]] = {}
    for scenario in SCENARIOS:
        warm[scenario] = wrk(
            urls[scenario], duration=settings.warmup, connections=settings.connections
        )
    for rep in range(settings.reps):
        for scenario in _rotated(rep):
            result = timed(
                servers[endpoint.servers[scenario]],
                partial(
                    wrk,
                    urls[scenario],
                    duration=settings.duration,
                    connections=settings.connections,
                ),
            )
            closed[scenario].append(result)
            log(
                f"{endpoint.key} closed  rep {rep + 1} {scenario:<14} {result['rps']:8.0f} req/s"
                f"  {result['requests_per_cpu_s']:6.0f} req/CPU-s  load {result['loadavg_1m']:.1f}"
                f"  errors {result['error_count']}"
            )
    fixed = settings.rate_db if endpoint.key == "db" else settings.rate_cached
    # A rate both orderflow scenarios can sustain: the p99 on/off comparison is meaningless
    # if telemetry-on is past its capacity (the peers may still be; the table says so).
    capacity = min(
        Spread.of([r["rps"] for r in closed[scenario]]).median
        for scenario in ("orderflow-off", "orderflow-on")
    )
    rate = fixed or round(settings.rate_fraction * capacity)
    for rep in range(settings.reps):
        for scenario in _rotated(rep):
            result = timed(
                servers[endpoint.servers[scenario]],
                partial(openloop, urls[scenario], rate=rate, duration=settings.duration),
            )
            opened[scenario].append(result)
            log(
                f"{endpoint.key} open    rep {rep + 1} {scenario:<14} @{rate:.0f}/s"
                f"  p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:7.2f} ms"
            )
    paired: list[dict[str, dict[str, Any]]] = []
    together = ("orderflow-on", "orderflow-off")
    for rep in range(settings.paired_reps):
        result = timed_together(
            {s: servers[endpoint.servers[s]] for s in together},
            {s: urls[s] for s in together},
            settings,
        )
        paired.append(result)
        on, off = result["orderflow-on"], result["orderflow-off"]
        log(
            f"{endpoint.key} paired  rep {rep + 1} on {on['requests_per_cpu_s']:6.0f} req/CPU-s"
            f"  off {off['requests_per_cpu_s']:6.0f} req/CPU-s  loss per CPU-s "
            f"{loss_pct(on['requests_per_cpu_s'], off['requests_per_cpu_s']):5.1f}%"
            f"  (core share {on['server_core_share']:.2f}/{off['server_core_share']:.2f})"
        )
    return {
        "key": endpoint.key,
        "title": endpoint.title,
        "path": endpoint.path,
        "servers": endpoint.servers,
        "open_loop_rate": rate,
        "paired": paired,
        "warmup": warm,
        "closed": closed,
        "open": opened,
    }


#: Server spans per telemetry-on scenario: (scenario, service.name in the resource).
TRACED = (("orderflow-on", "orderflow-api"), ("fastapi-otel", zerocode.SERVICE))
#: What the SDK writes when it loses telemetry (a full queue, a failed or timed-out export).
LOSS_MARKERS = ("Queue full", "dropping", "Failed to export", "Exception while exporting")


def _answered(result: dict[str, Any], scenario: str) -> int:
    return int(
        result["warmup"][scenario]["requests"]
        + sum(r["requests"] for r in result["closed"][scenario])
        + sum(r["completed"] for r in result["open"][scenario])
        + sum(r[scenario]["requests"] for r in result.get("paired", []) if scenario in r)
    )


def _jsonl_lines(collector: CollectorProcess, signal: str) -> list[bytes]:
    path = collector.workdir / f"{signal}.jsonl"
    return path.read_bytes().splitlines() if path.exists() else []


def span_delivery(collector: CollectorProcess, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Server spans the Collector received vs requests each telemetry-on server answered: 100%
    sampling must mean 100% delivered (a full batch queue drops silently). Each line of the
    file is one export request of one process, so its service name tells whose spans it has."""
    lines = _jsonl_lines(collector, "traces")
    out: dict[str, Any] = {"traces_jsonl_mib": sum(map(len, lines)) / 2**20}
    for result in results:
        route = "/api/articles/{slug}" if result["key"] == "db" else "/api/stock/{item_id}"
        name = f'"name":"GET {route}"'.encode()
        out[result["key"]] = {}
        for scenario, service in TRACED:
            answered = _answered(result, scenario)
            marker = f'"stringValue":"{service}"'.encode()
            received = sum(line.count(name) for line in lines if marker in line)
            out[result["key"]][scenario] = {
                "requests_answered": answered,
                "server_spans_received": received,
                "delivered_pct": 100.0 * received / answered if answered else None,
            }
    return out


def log_delivery(collector: CollectorProcess, servers: dict[str, Server]) -> dict[str, Any]:
    """After the telemetry-on orderflow servers stopped (and flushed): JSON log lines they wrote
    to stdout vs log records the Collector received from them, and every line in which any
    telemetry-on server's SDK reported lost telemetry (spans, logs or metric points)."""
    # Only records written inside a request (they carry its trace): start-up lines precede
    # the OTLP handler.
    written = sum(
        line.count('"traceId": "')
        for name in ("orderflow-on", "orderflow-on-db")
        for line in servers[name].log().splitlines()
    )
    marker = b'"stringValue":"orderflow-api"'
    received = sum(
        line.count(b'"traceId":"') for line in _jsonl_lines(collector, "logs") if marker in line
    )
    losses = {
        name: [
            line[:200]
            for line in servers[name].log().splitlines()
            if any(m in line for m in LOSS_MARKERS)
        ]
        for name in ("orderflow-on", "orderflow-on-db", "fastapi-otel")
    }
    return {"log_lines_written": written, "log_records_received": received, "losses": losses}


def main() -> None:
    settings = BenchSettings.from_env()
    for name in [k for k in os.environ if k.startswith("OTEL_")]:
        del os.environ[name]  # only what this harness sets reaches the servers
    pin_self_to_load_cpus()
    if settings.nice:
        os.nice(settings.nice)
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    log(f"settings {asdict(settings)}; server CPUs {SERVER_CPUS}, load CPUs {LOAD_CPUS}")

    pyroscope = PyroscopeStandIn().start()  # decodes each push, in this (load-CPU) process
    servers: dict[str, Server] = {}
    # BENCH_KEEP keeps the work directory (the Collector's output: hundreds of MiB).
    keep = bool(os.environ.get("BENCH_KEEP"))
    with running("bench", keep=keep, WORKER_METRICS_PORT="0") as backends:
        base, workdir, collector = backends.env, backends.workdir, backends.collector
        try:
            # The database-read variant: Redis on a port where nothing listens. The cache then
            # fails fast (connection refused), enters its cool-down and every request reads
            # PostgreSQL: the product's own degraded path, minus one Redis round trip.
            dead_redis = {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
            # A service name of its own: span and log delivery count orderflow-on's alone.
            profiled = {
                **telemetry_env(collector, "orderflow-api-profiled"),
                "PROFILING_ENABLED": "true",
                "PYROSCOPE_SERVER_ADDRESS": pyroscope.url,
            }
            specs: list[tuple[str, list[str], dict[str, str]]] = [
                ("orderflow-off", ["orderflow.cli", "api"], telemetry_env(None, "orderflow-api")),
                (
                    "orderflow-on",
                    ["orderflow.cli", "api"],
                    telemetry_env(collector, "orderflow-api"),
                ),
                ("orderflow-profiled", ["orderflow.cli", "api"], profiled),
                ("orderflow-profiled-db", ["orderflow.cli", "api"], {**profiled, **dead_redis}),
                (
                    "orderflow-off-db",
                    ["orderflow.cli", "api"],
                    {**telemetry_env(None, "orderflow-api"), **dead_redis},
                ),
                (
                    "orderflow-on-db",
                    ["orderflow.cli", "api"],
                    {**telemetry_env(collector, "orderflow-api"), **dead_redis},
                ),
                ("fastapi", ["bench.peers.fastapi_app"], {}),
                ("fastapi-otel", ["bench.peers.fastapi_app"], zerocode.env(collector)),
                ("litestar-asyncpg", ["bench.peers.litestar_asyncpg"], {}),
                ("raw-asyncpg", ["bench.peers.raw_asyncpg"], {}),
            ]
            for name, module, extra in specs:
                servers[name] = Server(
                    name,
                    module,
                    {**base, **extra},
                    free_port(),
                    workdir / f"{name}.log",
                    SERVER_CPUS,
                )
            servers["fastapi-otel"].interpreter = zerocode.interpreter()
            for server in servers.values():
                server.start()
            for server in servers.values():
                server.wait_ready()
            token, slug = create_user_and_article(servers["orderflow-off"].base_url)
            endpoints = [
                Endpoint(
                    "db",
                    "GET /api/articles/{slug} — database read (cache bypassed)",
                    f"/api/articles/{slug}",
                    {
                        "orderflow-off": "orderflow-off-db",
                        "orderflow-on": "orderflow-on-db",
                        "orderflow-profiled": "orderflow-profiled-db",
                        **PEERS,
                    },
                ),
                Endpoint(
                    "cached",
                    "GET /api/stock/{item_id} — JSON served from the Redis cache",
                    f"/api/stock/{STOCK_ITEM}",
                    {
                        "orderflow-off": "orderflow-off",
                        "orderflow-on": "orderflow-on",
                        "orderflow-profiled": "orderflow-profiled",
                        **PEERS,
                    },
                ),
            ]
            check_same_answer(servers, endpoints)
            log("servers up, answers checked; measuring")
            results = [measure_endpoint(e, servers, settings) for e in endpoints]
            memory = {name: s.peak_rss_mib() for name, s in servers.items()}
            for server in servers.values():
                server.stop()
            time.sleep(1)  # the Collector's batch and file flush (50 ms, 100 ms)
            logs_delivered = log_delivery(collector, servers)
            profiling = {  # the stopped servers pushed their last profile at shutdown
                "pushes": len(pyroscope.pushes),
                "samples": sum(1 for _ in pyroscope.samples("orderflow-api-profiled")),
            }
            servers.clear()

            pipeline_result = pipeline.run(base, token, workdir, settings, log=log)
            delivery = span_delivery(collector, results)
            profile_result = (
                profiles.run(
                    base, slug, collector, workdir, RESULTS / f"profiles-{stamp}", settings, log=log
                )
                if settings.profile_seconds > 0
                else {}
            )
        finally:
            for server in servers.values():
                server.stop()
            pyroscope.stop()

    elapsed = time.monotonic() - started
    raw = {
        "started": stamp,
        "elapsed_s": elapsed,
        "settings": asdict(settings),
        "machine": report.machine(),
        "cpus": {"server": sorted(SERVER_CPUS or []), "load": sorted(LOAD_CPUS or [])},
        "endpoints": results,
        "server_peak_rss_mib": memory,
        "span_delivery": delivery,
        "log_delivery": logs_delivered,
        "sampler": sampler_env(),
        "otlp_protocol": otlp_protocol(),
        "profiling": profiling,
        "pipeline": pipeline_result,
        "profiles": profile_result,
    }
    json_path = RESULTS / f"bench-{stamp}.json"
    json_path.write_text(json.dumps(raw, indent=2, default=str))
    table = report.render(raw)
    (RESULTS / f"bench-{stamp}.txt").write_text(table + "\n")
    print(table)
    print(f"\nraw results: {json_path.relative_to(REPO)} ({elapsed / 60:.1f} min)")


if __name__ == "__main__":
    main()
