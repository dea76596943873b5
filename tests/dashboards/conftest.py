"""The real stack the dashboards are evaluated against: PostgreSQL, Redis, the API and the
worker (real ``orderflow`` processes, telemetry on, OTLP to a real Collector), the pinned
Collector with its own metrics endpoint, and the pinned Prometheus scraping all of them every
second with the rules rendered for the test (see promstack.py)."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from orderflow.devservices import Postgres, Redis, free_port
from tests.dashboards.promstack import (
    RULE_FILES,
    Prometheus,
    prometheus_binaries,
    render_rules_for_test,
)
from tests.support.collector import CollectorProcess
from tests.support.processes import ServiceProcess, run_cli, wait_http_ok

HERE = Path(__file__).resolve().parent
COLLECTOR_CONFIG = HERE / "collector-selfmetrics.yaml"
COLLECTOR_JOB = "orderflow-collector"
#: Legacy (underscore) label names for the Collector's job: with Prometheus 3's default UTF-8
#: scheme its processor metrics carry a label `otel.signal` instead of `otel_signal`.
COLLECTOR_SCRAPE_OPTIONS = {
    "metric_name_validation_scheme": "legacy",
    "metric_name_escaping_scheme": "underscores",
}


def _wait_metrics(port: int, process: ServiceProcess, timeout: float = 30) -> None:
    wait_http_ok(f"http://127.0.0.1:{port}/metrics", process, timeout)


@dataclass
class Stack:
    env: dict[str, str]
    workdir: Path
    api_port: int
    worker_port: int
    collector_metrics_port: int
    api: ServiceProcess
    prom: Prometheus
    worker: ServiceProcess | None = None
    traffic: subprocess.Popen[bytes] | None = None
    started: float = field(default_factory=time.time)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def stop_api(self) -> None:
        self.api.stop()

    def restart_api(self, **overrides: str) -> ServiceProcess:
        """Restart the API on the same port; ``overrides`` are environment variables."""
        self.api.stop()
        log = self.workdir / f"api-{int(time.time() * 1000)}.log"
        self.api = ServiceProcess(
            ["api"], {**self.env, "PORT": str(self.api_port), **overrides}, log
        )
        self.api.start()
        wait_http_ok(f"{self.api_url}/healthz", self.api)
        return self.api

    def start_worker(self, **overrides: str) -> ServiceProcess:
        """(Re)start the worker; ``overrides`` are environment variables (a fault)."""
        self.stop_worker()
        log = self.workdir / f"worker-{int(time.time() * 1000)}.log"
        env = {**self.env, "WORKER_METRICS_PORT": str(self.worker_port), **overrides}
        self.worker = ServiceProcess(["worker"], env, log).start()
        _wait_metrics(self.worker_port, self.worker)
        return self.worker

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def start_traffic(self, duration: float, concurrency: int = 2) -> None:
        """``orderflow traffic`` in the background (exit status ignored: faults make it
        count unexpected answers)."""
        self.stop_traffic()
        self.traffic = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orderflow.cli",
                "traffic",
                "--base-url",
                self.api_url,
                "--duration",
                str(duration),
                "--concurrency",
                str(concurrency),
                "--orders",
                "100000",
            ],
            env={**os.environ, **self.env},
            stdout=(self.workdir / "traffic.log").open("ab"),
            stderr=subprocess.STDOUT,
        )

    def stop_traffic(self) -> None:
        if self.traffic is not None:
            if self.traffic.poll() is None:
                self.traffic.terminate()
                try:
                    self.traffic.wait(20)
                except subprocess.TimeoutExpired:
                    self.traffic.kill()
                    self.traffic.wait()
            self.traffic = None

    def business_extras(self) -> None:
        """What the traffic generator never does but the business dashboard shows: a failed
        login (wrong password) and a refused oversell (more units than any item has)."""
        with httpx.Client(base_url=self.api_url, timeout=30) as http:
            name = f"probe-{secrets.token_hex(4)}"
            email, password = f"{name}@example.test", secrets.token_hex(8)
            http.post(
                "/api/register", json={"email": email, "username": name, "password": password}
            ).raise_for_status()
            bad = http.post("/api/login", json={"email": email, "password": "wrong-" + password})
            assert bad.status_code == 401, bad.text
            token = http.post("/api/login", json={"email": email, "password": password}).json()[
                "token"
            ]
            item = http.get("/api/stock").json()[0]["item_id"]
            refused = http.post(
                f"/api/stock/{item}/reserve",
                json={"quantity": 10_000_000},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert refused.status_code == 409, refused.text


class JourneyProber:
    """Logs in and places an order every ~0.2 s in a thread, so the login and order
    availability SLOs see a steady stream of events while the API misbehaves (the traffic
    generator logs in once per shopper only)."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.answers: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> JourneyProber:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        name = f"prober-{secrets.token_hex(4)}"
        email, password = f"{name}@example.test", secrets.token_hex(8)
        token = ""
        while not self._stop.is_set():
            with (
                contextlib.suppress(httpx.HTTPError, ValueError, KeyError, IndexError),
                httpx.Client(base_url=self.api_url, timeout=10) as http,
            ):
                if not token:
                    http.post(
                        "/api/register",
                        json={"email": email, "username": name, "password": password},
                    )
                login = http.post("/api/login", json={"email": email, "password": password})
                self._count(login.status_code)
                if login.status_code == 200:
                    token = login.json()["token"]
                if token:
                    item = http.get("/api/stock").json()[0]
                    order = http.post(
                        "/api/orders",
                        json={
                            "items": [
                                {
                                    "item_id": item["item_id"],
                                    "quantity": 1,
                                    "price": item["price"],
                                }
                            ]
                        },
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    self._count(order.status_code)
            self._stop.wait(0.2)

    def _count(self, status: int) -> None:
        self.answers[status] = self.answers.get(status, 0) + 1


def _render_rules(workdir: Path) -> list[Path]:
    out = []
    for path in RULE_FILES:
        target = workdir / "rules" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(render_rules_for_test(path.read_text()), sort_keys=False))
        out.append(target)
    return out


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus_binaries()  # build (or find) before any server starts: a cold build is minutes
    workdir = tmp_path_factory.mktemp("dashboards")
    with contextlib.ExitStack() as cleanup:
        postgres = Postgres().start()
        cleanup.callback(postgres.stop)
        redis = Redis().start()
        cleanup.callback(redis.stop)

        collector_metrics_port = free_port()
        previous = os.environ.get("OTELCOL_SELF_METRICS_PORT")
        os.environ["OTELCOL_SELF_METRICS_PORT"] = str(collector_metrics_port)
        try:
            collector = CollectorProcess(workdir / "collector", config=COLLECTOR_CONFIG).start()
        finally:
            if previous is None:
                os.environ.pop("OTELCOL_SELF_METRICS_PORT", None)
            else:
                os.environ["OTELCOL_SELF_METRICS_PORT"] = previous
        cleanup.callback(collector.stop)

        api_port, worker_port = free_port(), free_port()
        env = {
            "ENVIRONMENT": "test",
            "JWT_SECRET": secrets.token_hex(32),
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "EMAIL_SINK_URL": f"http://127.0.0.1:{api_port}/_sink/email",
            "EMAIL_SINK_ENABLED": "true",
            "OTEL_SDK_DISABLED": "false",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.http_port}",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "WORKER_MIN_BACKOFF_MS": "100",
            "WORKER_MAX_BACKOFF_MS": "300",
            "WORKER_MAX_RETRIES": "2",
            "OUTBOX_POLL_SECONDS": "0.5",
        }
        run_cli(env, "migrate", "up", "--seed", check=True)
        api = ServiceProcess(["api"], {**env, "PORT": str(api_port)}, workdir / "api.log").start()
        wait_http_ok(f"http://127.0.0.1:{api_port}/healthz", api)

        prom = Prometheus(
            workdir / "prometheus",
            free_port(),
            {
                "orderflow-api": f"127.0.0.1:{api_port}",
                "orderflow-worker": f"127.0.0.1:{worker_port}",
                # The job the Collector's own telemetry resource names it in the chart
                # (service.name in otel/collector.yaml): the dashboards select it by job.
                COLLECTOR_JOB: f"127.0.0.1:{collector_metrics_port}",
            },
            _render_rules(workdir),
            job_options={COLLECTOR_JOB: COLLECTOR_SCRAPE_OPTIONS},
        )
        stack = Stack(env, workdir, api_port, worker_port, collector_metrics_port, api, prom)
        cleanup.callback(stack.stop_api)
        stack.start_worker()
        cleanup.callback(stack.stop_worker)
        cleanup.callback(stack.stop_traffic)
        prom.start()
        cleanup.callback(prom.stop)
        yield stack
