"""``orderflow dev`` (``make dev``): the whole product on one machine, no cluster, no Docker.

Starts throwaway PostgreSQL and Redis unless DATABASE_URL / REDIS_URL name existing ones, runs
migrations and the demo catalog, then the API and the worker as child processes. Ctrl-C (or
SIGTERM) stops the children, then the servers, and removes their data: nothing is left running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from orderflow.devservices import Postgres, Redis

if TYPE_CHECKING:
    from collections.abc import Iterator


@contextlib.contextmanager
def _dependencies(env: dict[str, str]) -> Iterator[dict[str, str]]:
    started: list[Postgres | Redis] = []
    try:
        if "DATABASE_URL" not in env:
            postgres = Postgres().start()
            started.append(postgres)
            env["DATABASE_URL"] = postgres.url
            print(f"dev: PostgreSQL on 127.0.0.1:{postgres.port}", flush=True)
        if "REDIS_URL" not in env:
            redis = Redis().start()
            started.append(redis)
            env["REDIS_URL"] = redis.url
            print(f"dev: Redis on 127.0.0.1:{redis.port}", flush=True)
        yield env
    finally:
        for server in reversed(started):
            server.stop()


def _orderflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "orderflow.cli", *args]


def run_dev() -> None:
    env = dict(os.environ)
    # The one place that opts into development (relaxed secret checks, the public dev JWT
    # secret): the settings and the images default to production.
    env.setdefault("ENVIRONMENT", "development")
    # No email provider on a developer machine: the API's built-in sink logs what is sent.
    env.setdefault("EMAIL_SINK_ENABLED", "true")
    stop = False

    def request_stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with _dependencies(env) as env:
        subprocess.run(_orderflow("migrate", "up"), env=env, check=True)
        subprocess.run(_orderflow("seed"), env=env, check=True)
        children = [
            subprocess.Popen(_orderflow("api"), env=env),
            subprocess.Popen(_orderflow("worker"), env=env),
        ]
        port = env.get("PORT", "8080")
        print(
            f"dev: API on http://127.0.0.1:{port} (docs: /schema), worker running. Ctrl-C stops.",
            flush=True,
        )
        try:
            while not stop and all(child.poll() is None for child in children):
                time.sleep(0.2)
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
    if not stop:
        raise SystemExit("dev: a child process exited on its own; see its log above")
