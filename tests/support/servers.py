"""Session-wide throwaway PostgreSQL and Redis for every test package (a pytest plugin loaded
by the root conftest). Tests that simulate an outage stop Redis with ``stop(remove=False)``
and must ``start()`` it again before they return."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orderflow.devservices import Postgres, Redis


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    server = Redis().start()
    yield server
    server.stop()
