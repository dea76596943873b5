"""How the schema is moved where several processes start at once (the chart runs
`orderflow migrate up --wait-seconds N --seed` in every API pod's init container): concurrent
runs serialise, a database that is not up yet is waited for, a database ahead of the build is
left alone, and the worker waits for the schema instead of dying."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import uuid
from typing import TYPE_CHECKING

from orderflow.db.migrate import schema_head
from orderflow.devservices import Postgres, free_port
from tests.support.database import Database
from tests.support.processes import ServiceProcess, run_cli, wait_until

if TYPE_CHECKING:
    from pathlib import Path


def _fresh_database(postgres: Postgres) -> str:
    """An empty database on the session's server; returns its URL."""
    name = f"mig_{uuid.uuid4().hex[:10]}"
    Database(postgres.url).execute(f'CREATE DATABASE "{name}"')
    return postgres.url.rsplit("/", 1)[0] + f"/{name}"


def _migrate(base_env: dict[str, str], url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli({**base_env, "DATABASE_URL": url}, "migrate", "up", *args, timeout=120)


def test_concurrent_migrations_serialise_on_the_advisory_lock(
    postgres: Postgres, base_env: dict[str, str]
) -> None:
    url = _fresh_database(postgres)
    results: list[subprocess.CompletedProcess[str]] = []
    runs = [
        threading.Thread(target=lambda: results.append(_migrate(base_env, url))) for _ in range(3)
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    # Without the lock two of them race on CREATE TABLE and one fails ("already exists").
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr[-800:] for r in results]
    db = Database(url)
    assert db.value("SELECT version_num FROM alembic_version") == schema_head()
    assert db.value("SELECT count(*) FROM alembic_version") == 1


def test_migrate_waits_for_a_database_that_starts_later(base_env: dict[str, str]) -> None:
    server = Postgres(port=free_port())
    env = {**os.environ, **base_env, "DATABASE_URL": server.url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orderflow.cli", "migrate", "up", "--wait-seconds", "90", "--seed"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=4)  # it must still be waiting afterwards
    assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
    server.start()
    try:
        out, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0, out
        assert "waiting for the database" in out
        db = Database(server.url)
        assert db.value("SELECT version_num FROM alembic_version") == schema_head()
        assert db.value("SELECT count(*) FROM products") > 0, "--seed loads the catalog"
    finally:
        server.stop()


def test_migrate_without_wait_fails_fast_on_an_unreachable_database(
    base_env: dict[str, str],
) -> None:
    url = f"postgresql://orderflow:x@127.0.0.1:{free_port()}/orderflow"
    result = _migrate(base_env, url)
    assert result.returncode != 0


def test_migrate_leaves_a_newer_schema_alone(postgres: Postgres, base_env: dict[str, str]) -> None:
    """`helm rollback` runs the older build's init container against a schema a newer
    release migrated: it must neither fail (the pod would never start) nor downgrade."""
    url = _fresh_database(postgres)
    assert _migrate(base_env, url).returncode == 0
    db = Database(url)
    db.execute("UPDATE alembic_version SET version_num = 'ffffffff_from_a_newer_release'")
    result = _migrate(base_env, url)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "newer than this build" in result.stdout + result.stderr
    assert db.value("SELECT version_num FROM alembic_version") == "ffffffff_from_a_newer_release"


def test_worker_waits_for_the_schema_instead_of_exiting(
    postgres: Postgres, base_env: dict[str, str], logs_dir: Path
) -> None:
    url = _fresh_database(postgres)
    worker = ServiceProcess(["worker"], {**base_env, "DATABASE_URL": url}, logs_dir / "wait.log")
    worker.start()
    try:
        wait_until(lambda: "waiting for the database schema" in worker.log(), timeout=30)
        assert worker.running, worker.log()[-3000:]
        assert _migrate(base_env, url).returncode == 0
        wait_until(lambda: "worker started" in worker.log(), timeout=30)
        assert worker.running, worker.log()[-3000:]
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]


def test_worker_stopped_while_waiting_for_the_schema_exits_cleanly(
    postgres: Postgres, base_env: dict[str, str], logs_dir: Path
) -> None:
    """A rollout may stop a worker that is still waiting for the first migration: SIGTERM
    then ends it with status 0 at once, not by the signal's default action (-15)."""
    url = _fresh_database(postgres)
    worker = ServiceProcess(["worker"], {**base_env, "DATABASE_URL": url}, logs_dir / "stop.log")
    worker.start()
    try:
        wait_until(lambda: "waiting for the database schema" in worker.log(), timeout=30)
    finally:
        code = worker.stop(timeout=10)
    assert code == 0, worker.log()[-3000:]
    assert "shutdown requested while waiting for the schema" in worker.log()


def test_a_wrong_password_is_not_waited_for(postgres: Postgres, base_env: dict[str, str]) -> None:
    """Only a database that is not up yet is waited for; a wrong password never gets better,
    so the init container fails at once (with --wait-seconds far beyond the run's timeout, a
    wait would show up as the timeout below)."""
    url = postgres.url.replace(f":{postgres.password}@", ":not-the-password@")
    result = _migrate(base_env, url, "--wait-seconds", "3600")
    assert result.returncode != 0
    assert "password authentication failed" in result.stderr + result.stdout
