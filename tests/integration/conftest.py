"""Real PostgreSQL, Redis, API and worker processes for the integration tests.

Everything is started by the suite itself from installed binaries; nothing is mocked.
"""

from __future__ import annotations

import secrets
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from orderflow.devservices import Postgres, Redis, free_port
from tests.support.api_client import Account, register
from tests.support.database import Database
from tests.support.email_sink import RecordingEmailSink
from tests.support.processes import ServiceProcess, run_cli, wait_http_ok


@pytest.fixture(scope="session")
def email_sink() -> Iterator[RecordingEmailSink]:
    sink = RecordingEmailSink().start()
    yield sink
    sink.stop()
    if sink.rejected:  # not the app's doing (it only sends emails): say who it was
        warnings.warn(
            f"email sink: {len(sink.rejected)} POSTs that were not emails, first: "
            f"{sink.rejected[0].headers} {sink.rejected[0].body[:300]!r}",
            stacklevel=1,
        )


@pytest.fixture(scope="session")
def base_env(
    postgres: Postgres, redis_server: Redis, email_sink: RecordingEmailSink
) -> dict[str, str]:
    env = {
        "ENVIRONMENT": "test",
        "JWT_SECRET": secrets.token_hex(32),
        "DATABASE_URL": postgres.url,
        # host:port on purpose: the other accepted spelling of REDIS_URL.
        "REDIS_URL": f"127.0.0.1:{redis_server.port}",
        "EMAIL_SINK_URL": email_sink.url,
        "OTEL_SDK_DISABLED": "true",
        "WORKER_MIN_BACKOFF_MS": "100",
        "WORKER_MAX_BACKOFF_MS": "500",
        "WORKER_MAX_RETRIES": "3",
        "SAGA_RESUME_AFTER_SECONDS": "4",
        "OUTBOX_POLL_SECONDS": "0.5",
        "WORKER_METRICS_PORT": "0",
        "CACHE_TTL_SECONDS": "30",
        # Expired reservations are swept only by APIs that a test starts for it: with every API
        # on the shared database sweeping, who returned a unit would be a race.
        "RESERVATION_SWEEP_SECONDS": "3600",
    }
    run_cli(env, "migrate", "up", check=True)
    return env


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def api(base_env: dict[str, str], logs_dir: Path) -> Iterator[ServiceProcess]:
    port = free_port()
    process = ServiceProcess(["api"], {**base_env, "PORT": str(port)}, logs_dir / "api.log")
    process.start()
    wait_http_ok(f"http://127.0.0.1:{port}/healthz", process)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def api_url(api: ServiceProcess) -> str:
    return f"http://127.0.0.1:{api.env['PORT']}"


class WorkerControl:
    """The session's worker, restartable with different settings by a test."""

    def __init__(self, env: dict[str, str], logs_dir: Path) -> None:
        self.env = env
        self.logs_dir = logs_dir
        self.process: ServiceProcess | None = None

    def start(self, **overrides: str) -> ServiceProcess:
        self.stop()
        log = self.logs_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.process = ServiceProcess(["worker"], {**self.env, **overrides}, log).start()
        return self.process

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@pytest.fixture(scope="session")
def worker_control(base_env: dict[str, str], logs_dir: Path) -> Iterator[WorkerControl]:
    control = WorkerControl(base_env, logs_dir)
    control.start()
    yield control
    control.stop()


@pytest.fixture
def worker(worker_control: WorkerControl) -> Iterator[WorkerControl]:
    """A running worker with the default settings, restored after the test if it changed."""
    if worker_control.process is None or not worker_control.process.running:
        worker_control.start()
    before = worker_control.process
    yield worker_control
    if worker_control.process is not before or not (before and before.running):
        worker_control.start()


@pytest.fixture
def client(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=10) as http:
        yield http


@pytest.fixture(scope="session")
def db(postgres: Postgres) -> Database:
    return Database(postgres.url)


@pytest.fixture
def make_product(db: Database) -> Callable[..., str]:
    """Create a catalog item of our own, so tests never share stock."""

    def create(available: int = 10, price: int = 1000) -> str:
        item_id = f"test-{uuid.uuid4().hex[:12]}"
        db.execute(
            "INSERT INTO products (id, name, price_cents, available, reserved)"
            " VALUES ($1, $2, $3, $4, 0)",
            item_id,
            f"Test item {item_id}",
            price,
            available,
        )
        return item_id

    return create


@pytest.fixture
def make_staff(base_env: dict[str, str]) -> Callable[[httpx.Client], Account]:
    """Register an account and make it staff the only way there is: the command line."""

    def create(client: httpx.Client) -> Account:
        account = register(client, prefix="staff")
        granted = run_cli(base_env, "staff", "grant", account.email)
        assert granted.returncode == 0, granted.stderr
        return account

    return create
