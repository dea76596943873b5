"""Dependency checks against real local servers: PostgreSQL, Redis, HTTP, TCP, OTLP/HTTP."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from orderflow.devservices import Postgres, Redis, free_port
from orderflow_operator.checks import run_check
from orderflow_operator.crd.models import DependencyType as T
from tests.operator.otlp_receiver import OtlpReceiver


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = {"/ok": 200, "/moved": 302, "/broken": 503}.get(self.path, 404)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver().start()
    yield receiver
    receiver.stop()


def _closed_port() -> int:
    return free_port()  # bound and released: nothing listens there


async def test_postgres_dsn_runs_a_query(postgres: Postgres) -> None:
    result = await run_check(T.POSTGRES, postgres.url, 5)
    assert result.healthy, result.error
    assert result.latency_ms > 0


async def test_postgres_dsn_with_a_wrong_password_is_unhealthy(postgres: Postgres) -> None:
    wrong = postgres.url.replace(":orderflow@", ":wrong@")
    result = await run_check(T.POSTGRES, wrong, 5)
    assert not result.healthy
    assert result.error is not None and "password" in result.error.lower()


async def test_postgres_host_port_is_pg_isready(postgres: Postgres) -> None:
    # No credentials: the server's authentication answer proves it accepts connections.
    result = await run_check(T.POSTGRES, f"127.0.0.1:{postgres.port}", 5)
    assert result.healthy, result.error


async def test_postgres_down() -> None:
    result = await run_check(T.POSTGRES, f"127.0.0.1:{_closed_port()}", 5)
    assert not result.healthy
    assert result.error is not None and "refused" in result.error.lower()


async def test_redis_up_then_down_on_the_same_port(redis_server: Redis) -> None:
    assert (await run_check(T.REDIS, f"127.0.0.1:{redis_server.port}", 5)).healthy
    assert (await run_check(T.REDIS, redis_server.url, 5)).healthy
    redis_server.stop(remove=False)
    try:
        result = await run_check(T.REDIS, f"127.0.0.1:{redis_server.port}", 5)
        assert not result.healthy
        assert result.error is not None and str(redis_server.port) in result.error
    finally:
        redis_server.start()
    assert (await run_check(T.REDIS, f"127.0.0.1:{redis_server.port}", 5)).healthy


async def test_redis_check_speaks_redis() -> None:
    # A TCP listener that is not Redis: the TCP check passes, the Redis check does not.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def hang_up() -> None:
            listener.accept()[0].close()

        threading.Thread(target=hang_up, daemon=True).start()
        result = await run_check(T.REDIS, f"127.0.0.1:{port}", 2)
    assert not result.healthy


@pytest.mark.parametrize(
    ("path", "healthy"), [("/ok", True), ("/moved", True), ("/broken", False), ("/missing", False)]
)
async def test_http_status_decides(http_server: str, path: str, healthy: bool) -> None:
    result = await run_check(T.HTTP, http_server + path, 5)
    assert result.healthy is healthy
    if not healthy:
        assert result.error is not None and "HTTP" in result.error


async def test_tcp(http_server: str) -> None:
    port = http_server.rsplit(":", 1)[1]
    assert (await run_check(T.TCP, f"127.0.0.1:{port}", 5)).healthy
    assert not (await run_check(T.TCP, f"127.0.0.1:{_closed_port()}", 5)).healthy


async def test_timeout_is_reported() -> None:
    # A listener that never accepts beyond its backlog and never answers: PING times out.
    with socket.create_server(("127.0.0.1", 0), backlog=1) as listener:
        port = listener.getsockname()[1]
        result = await run_check(T.REDIS, f"127.0.0.1:{port}", 1)
    assert not result.healthy
    assert result.error == "timed out"


async def test_otlp_http_sends_a_valid_empty_export(otlp: OtlpReceiver) -> None:
    before = otlp.requests
    result = await run_check(T.OTLP, otlp.endpoint, 5)
    assert result.healthy, result.error
    assert otlp.requests == before + 1, "the receiver decoded one ExportTraceServiceRequest"
    assert (await run_check(T.OTLP, otlp.endpoint + "/v1/traces", 5)).healthy


async def test_otlp_rejecting_endpoint_is_unhealthy(http_server: str) -> None:
    result = await run_check(T.OTLP, http_server, 5)  # no POST handler: HTTP 501
    assert not result.healthy


async def test_otlp_grpc_port_is_a_tcp_check(otlp: OtlpReceiver) -> None:
    port = otlp.endpoint.rsplit(":", 1)[1]
    assert (await run_check(T.OTLP, f"127.0.0.1:{port}", 5)).healthy
    assert not (await run_check(T.OTLP, f"127.0.0.1:{_closed_port()}", 5)).healthy
