"""One trace from HTTP through the outbox and the queue into the worker, asserted on what a
real OpenTelemetry Collector received — once with the SDK configured by our entry points, once
with the processes started under ``opentelemetry-instrument`` (zero-code): same trace shape,
nothing exported twice."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from orderflow.devservices import Postgres, free_port
from tests.support.api_client import Account, assert_error, register
from tests.support.collector import Attributes, CollectorProcess, LogRecord, MetricPoint, Span
from tests.support.database import Database
from tests.support.processes import ServiceProcess, wait_http_ok, wait_until
from tests.support.trace_shape import assert_no_duplicates_or_broker_polling, assert_order_trace

MODES = ["sdk", "zero-code"]
# What zero-code deployments set (the chart's Instrumentation resource carries the same):
# Redis auto-instrumentation off (it would trace the broker's idle polling), our Prometheus
# bridge as a metrics reader, logs over OTLP through the one root handler.
ZERO_CODE_ENV = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp,orderflow_prometheus",
    "OTEL_LOGS_EXPORTER": "otlp",
    "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "redis,asyncpg",
}


@dataclass
class Stack:
    mode: str
    collector: CollectorProcess
    api: ServiceProcess
    worker: ServiceProcess
    worker_metrics_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api.env['PORT']}"


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    process = CollectorProcess(tmp_path_factory.mktemp("otelcol")).start()
    yield process
    process.stop()


@pytest.fixture(scope="module", params=MODES)
def stack(
    request: pytest.FixtureRequest,
    base_env: dict[str, str],
    collector: CollectorProcess,
    logs_dir: Path,
    worker_control: object,
) -> Iterator[Stack]:
    mode: str = request.param
    # The session's telemetry-free worker would compete for the queues: pause it.
    session_worker = worker_control
    session_worker.stop()  # type: ignore[attr-defined]
    collector.clear()
    env = {
        **base_env,
        # What each mode ships with: the chart's OTLP/gRPC to its Collector for orderflow's own
        # SDK, OTLP/HTTP for the OpenTelemetry Operator's Python injection.
        **collector.env("grpc" if mode == "sdk" else "http/protobuf"),
        "OTEL_SDK_DISABLED": "false",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
        "OTEL_RESOURCE_ATTRIBUTES": f"test.mode={mode}",
        "RESERVATION_SWEEP_SECONDS": "1",  # the sweeper runs, untraced (see its test)
    }
    launcher = [str(Path(sys.executable).parent / "opentelemetry-instrument")]
    if mode == "zero-code":
        env |= ZERO_CODE_ENV
    else:
        launcher = []
    port, metrics_port = free_port(), free_port()
    api = ServiceProcess(
        ["api"],
        {**env, "PORT": str(port), "OTEL_SERVICE_NAME": "orderflow-api"},
        logs_dir / f"api-otel-{mode}.log",
        launcher,
    ).start()
    worker = ServiceProcess(
        ["worker"],
        {**env, "WORKER_METRICS_PORT": str(metrics_port), "OTEL_SERVICE_NAME": "orderflow-worker"},
        logs_dir / f"worker-otel-{mode}.log",
        launcher,
    ).start()
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", api)
        yield Stack(mode, collector, api, worker, metrics_port)
    finally:
        api.stop()
        worker.stop()
        session_worker.start()  # type: ignore[attr-defined]


@dataclass
class PlacedOrder:
    account: Account
    order_id: str
    trace_id: str
    spans: list[Span]


@pytest.fixture(scope="module")
def placed(stack: Stack, make_module_product: Callable[[], str]) -> PlacedOrder:
    """One order driven through the whole system; its complete trace as the Collector saw it."""
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        account = register(client)
        login = {"email": account.email, "password": account.password}
        assert client.post("/api/login", json=login).status_code == 200
        item = make_module_product()
        client.get(f"/api/stock/{item}")  # a cache miss then fill, traced as Redis spans
        response = client.post(
            "/api/orders",
            json={"items": [{"item_id": item, "quantity": 1, "price": 1000}]},
            headers=account.auth,
        )
        assert response.status_code == 201, response.text
        order_id = response.json()["id"]
        wait_until(
            lambda: (
                client.get(f"/api/orders/{order_id}", headers=account.auth).json()["status"]
                == "confirmed"
            ),
            timeout=20,
        )
    [server] = stack.collector.wait_for_spans(
        lambda s: s.name == "POST /api/orders" and s.attributes.get("url.path") == "/api/orders"
    )
    # The trace is complete once the email's HTTP client span and the consumer span around
    # the email job (which ends last, after the job returns) have arrived.
    trace_id = server.trace_id
    stack.collector.wait_for_spans(
        lambda s: s.trace_id == trace_id and s.name == "email.send", timeout=20
    )
    stack.collector.wait_for_spans(
        lambda s: s.trace_id == trace_id and "httpx" in s.scope, timeout=20
    )
    stack.collector.wait_for_spans(
        lambda s: s.trace_id == trace_id and s.name == "process email", timeout=20
    )
    return PlacedOrder(account, order_id, server.trace_id, stack.collector.trace(server.trace_id))


@pytest.fixture(scope="module")
def make_module_product(postgres: Postgres) -> Callable[[], str]:
    db = Database(postgres.url)

    def create() -> str:
        item_id = f"otel-{uuid.uuid4().hex[:10]}"
        db.execute(
            "INSERT INTO products (id, name, price_cents, available, reserved)"
            " VALUES ($1, 'Traced item', 1000, 100, 0)",
            item_id,
        )
        return item_id

    return create


def test_one_trace_from_http_through_the_queue_into_the_worker(placed: PlacedOrder) -> None:
    assert_order_trace(placed.spans)


def test_no_duplicate_spans_and_no_broker_polling(placed: PlacedOrder, stack: Stack) -> None:
    assert_no_duplicates_or_broker_polling(stack.collector.spans())


def test_cache_spans_are_children_of_requests(stack: Stack, placed: PlacedOrder) -> None:
    cache_reads = [
        s for s in stack.collector.spans() if "redis" in s.scope and s.name in {"GET", "SET"}
    ]
    assert cache_reads, "the cache client was not traced"
    servers = {s.span_id: s for s in stack.collector.spans() if s.kind == "SPAN_KIND_SERVER"}
    assert any(servers.get(s.parent_span_id or "") is not None for s in cache_reads)
    assert any(s.name == "GET /api/stock/{item_id}" for s in servers.values())


def test_logs_carry_the_trace_and_are_exported_once(stack: Stack, placed: PlacedOrder) -> None:
    def mentions(record: LogRecord, text: str) -> bool:
        return text in str(record.body) and placed.order_id in str(record.body)

    [placed_log] = stack.collector.wait_for_logs(lambda r: mentions(r, "order placed"))
    assert placed_log.trace_id == placed.trace_id
    assert placed_log.span_id in {s.span_id for s in placed.spans}
    settled = stack.collector.wait_for_logs(lambda r: mentions(r, "order settled"))
    assert [r.trace_id for r in settled] == [placed.trace_id]
    # stdout JSON carries the same ids.
    line = next(
        text
        for text in stack.api.log().splitlines()
        if placed.order_id in text and "order placed" in text
    )
    assert f'"traceId": "{placed.trace_id}"' in line and '"spanId": "' in line


def test_error_responses_carry_the_server_span_trace_id(stack: Stack, placed: PlacedOrder) -> None:
    with httpx.Client(base_url=stack.url) as client:
        missing = assert_error(client.get("/api/articles/no-such-article"), 404)
        unrouted = assert_error(client.get("/api/nowhere"), 404)
    [span] = stack.collector.wait_for_spans(
        lambda s: s.trace_id == missing["trace_id"] and s.kind == "SPAN_KIND_SERVER"
    )
    assert span.name == "GET /api/articles/{slug}" and span.kind == "SPAN_KIND_SERVER"
    assert span.attributes["http.response.status_code"] == 404
    [bare] = stack.collector.wait_for_spans(
        lambda s: s.trace_id == unrouted["trace_id"] and s.kind == "SPAN_KIND_SERVER"
    )
    assert bare.name == "GET" and "http.route" not in bare.attributes


EXPECTED_METRICS: dict[str, tuple[str, str, Attributes]] = {
    # name: (unit, type, attributes that must be present on some point)
    "http.server.request.total": (
        "{request}",
        "sum",
        {
            "http.route": "/api/orders",
            "http.request.method": "POST",
            "http.response.status_code": 201,
        },
    ),
    "http.server.request.duration": ("s", "histogram", {"http.route": "/api/orders"}),
    "http.server.active_requests": ("{request}", "sum", {"http.request.method": "GET"}),
    "auth.registration.total": ("{registration}", "sum", {}),
    "auth.login.attempts": ("{attempt}", "sum", {}),
    "orders.created": ("{order}", "sum", {}),
    "orders.revenue": ("{cent}", "sum", {}),
    "stock.reserved": ("{unit}", "sum", {}),
    "cache.misses": ("{lookup}", "sum", {"cache.namespace": "stock"}),
    "jobs.enqueued": ("{job}", "sum", {"job.actor": "process_order", "job.queue": "orders"}),
    "jobs.completed": ("{job}", "sum", {"job.actor": "send_email"}),
    "jobs.duration": ("s", "histogram", {"job.actor": "process_order"}),
    "jobs.queue.depth": ("{job}", "gauge", {"job.queue": "orders"}),
    "jobs.queue.oldest_age": ("s", "gauge", {"job.queue": "email"}),
    "jobs.dead_letter.depth": ("{job}", "gauge", {"job.queue": "email"}),
    # The SQLAlchemy instrumentation's pool metric, read from the pools at collection time.
    "db.client.connections.usage": ("connections", "sum", {"state": "used"}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_METRICS))
def test_metrics_arrive_with_names_units_and_attributes(
    stack: Stack, placed: PlacedOrder, name: str
) -> None:
    unit, kind, attributes = EXPECTED_METRICS[name]
    points: list[MetricPoint] = stack.collector.wait_for_metric(name, attributes, timeout=15)
    assert {p.unit for p in points} == {unit}
    assert {p.type for p in points} == {kind}


def test_login_outcomes_are_labelled(stack: Stack, placed: PlacedOrder) -> None:
    with httpx.Client(base_url=stack.url) as client:
        client.post("/api/login", json={"email": placed.account.email, "password": "wrong"})
    stack.collector.wait_for_metric("auth.login.attempts", {"outcome": "failure"}, timeout=15)


def test_prometheus_scrapes_carry_exemplars(stack: Stack, placed: PlacedOrder) -> None:
    accept = {"Accept": "application/openmetrics-text; version=1.0.0"}
    api = httpx.get(f"{stack.url}/metrics", headers=accept).text
    buckets = [
        text
        for text in api.splitlines()
        if text.startswith("http_server_request_duration_seconds_bucket")
    ]
    routed = [text for text in buckets if 'http_route="/api/orders"' in text]
    assert any('# {trace_id="' in text for text in routed), routed
    assert "http_server_request_total{" in api
    plain = httpx.get(f"{stack.url}/metrics").text
    assert "# {" not in plain and "http_server_request_duration_seconds_count" in plain
    worker = httpx.get(f"http://127.0.0.1:{stack.worker_metrics_port}/metrics", headers=accept).text
    assert "jobs_duration_seconds_bucket" in worker and "jobs_completed_total" in worker
    assert 'jobs_queue_depth{job_queue="orders"}' in worker


def test_the_log_export_path_is_quiet(stack: Stack, placed: PlacedOrder) -> None:
    """The OTLP handler must not choke on structlog's record internals (it would log about it,
    recursively), in either process."""
    for process in (stack.api, stack.worker):
        output = process.log()
        assert "Invalid type" not in output
        assert "recursive logging" not in output


def test_the_reservation_sweeper_is_not_traced(
    stack: Stack, make_module_product: Callable[[], str], postgres: Postgres
) -> None:
    """Every API process sweeps expired reservations every few seconds: traced, that would be a
    root span per sweep per replica burying the traces people look for."""
    db = Database(postgres.url)
    item = make_module_product()
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        account = register(client)
        made = client.post(
            f"/api/stock/{item}/reserve",
            json={"quantity": 1, "ttl_seconds": 1},
            headers=account.auth,
        )
        assert made.status_code == 201, made.text
    # Nobody touches the item again: only the sweeper can return the unit.
    wait_until(
        lambda: db.value("SELECT count(*) FROM reservations WHERE item_id = $1", item) == 0,
        timeout=30,
    )
    # Only this stack's API sweeps (the suite's other APIs have RESERVATION_SWEEP_SECONDS=3600).
    # Only the sweeper's statements: other root SQL (a probe's schema check) is not its business.
    sql_roots = [
        s
        for s in stack.collector.spans()
        if s.parent_span_id is None
        and "sqlalchemy" in s.scope
        and "reservations" in str(s.attributes.get("db.statement", ""))
    ]
    assert sql_roots == [], [(s.name, s.attributes.get("db.statement")) for s in sql_roots[:3]]
