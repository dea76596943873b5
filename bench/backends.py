"""The backends every bench entry point measures against (``make bench``, ``bench.ab``,
``bench.micro``): a throwaway PostgreSQL and Redis and the project's real OpenTelemetry
Collector, all three pinned to the load CPUs so they never take the server's core, the schema
migrated and the demo data seeded with ample stock."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
from tests.support.collector import CollectorProcess

from bench.servers import LOAD_CPUS, REPO, pin_pid
from orderflow.devservices import Postgres, Redis

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass
class Backends:
    workdir: Path
    postgres: Postgres
    redis: Redis
    collector: CollectorProcess
    env: dict[str, str]
    """What every server process of the run gets (a fresh JWT secret per run)."""


def migrate_and_seed(env: dict[str, str], database_url: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "orderflow.cli", "migrate", "up", "--seed"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        cwd=REPO,
    )

    async def ample_stock() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            await connection.execute("UPDATE products SET available = 1000000000")
        finally:
            await connection.close()

    asyncio.run(ample_stock())


@contextlib.contextmanager
def running(name: str, *, keep: bool = False, **extra_env: str) -> Iterator[Backends]:
    """Start, pin, migrate and seed; stop everything and remove the work directory after
    (unless ``keep``)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"orderflow-{name}-"))
    with contextlib.ExitStack() as stack:
        if not keep:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        postgres = Postgres().start()
        stack.callback(postgres.stop)
        redis = Redis().start()
        stack.callback(redis.stop)
        collector = CollectorProcess(workdir / "collector").start()
        stack.callback(collector.stop)
        postmaster = int((postgres.datadir / "postmaster.pid").read_text().split()[0])
        for pid in (postmaster, redis.process.pid if redis.process else 0, collector.pid or 0):
            if pid:
                pin_pid(pid, LOAD_CPUS)
        env = {
            "ENVIRONMENT": "bench",
            "JWT_SECRET": secrets.token_hex(32),
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "HOST": "127.0.0.1",
            **extra_env,
        }
        migrate_and_seed(env, postgres.url)
        yield Backends(workdir, postgres, redis, collector, env)
