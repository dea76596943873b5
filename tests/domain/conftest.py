"""The domain layer in-process: services called directly against the session's real
PostgreSQL (a database of its own, migrated here) and Redis. No API or worker process runs, so
every side effect of a call has happened when it returns and is asserted right after it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import asyncpg
import pytest
from redis.asyncio import Redis as RedisClient

from orderflow.cache import Cache
from orderflow.db import migrate
from orderflow.db.engine import make_engine, make_session_factory
from orderflow.db.models import Product, User
from orderflow.settings import DatabaseSettings, normalize_database_url
from tests.support.database import Database

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from orderflow.devservices import Postgres, Redis

DATABASE = "orderflow_domain"


@pytest.fixture(scope="session")
async def domain_url(postgres: Postgres) -> str:
    """A database apart from the one the API and worker processes of other layers share: the
    stuck-saga sweeper and the outbox publisher scan whole tables, and a worker's relay must not
    publish what these tests write."""
    conn = await asyncpg.connect(postgres.url)
    try:
        await conn.execute(f'CREATE DATABASE "{DATABASE}" OWNER "{postgres.user}"')
    finally:
        await conn.close()
    url = postgres.url.rsplit("/", 1)[0] + f"/{DATABASE}"
    # Alembic's environment runs its own event loop: off this one.
    await asyncio.to_thread(migrate.upgrade, normalize_database_url(url))
    return url


@pytest.fixture(scope="session")
def db(domain_url: str) -> Database:
    """Plain SQL on the domain database, to check what the services wrote."""
    return Database(domain_url)


@pytest.fixture(scope="session")
async def sessions(domain_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(DatabaseSettings(url=normalize_database_url(domain_url)))
    yield make_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as opened:
        yield opened


@pytest.fixture(scope="session")
async def cache(redis_server: Redis) -> AsyncIterator[Cache]:
    client = RedisClient.from_url(redis_server.url)
    yield Cache(client, 30)
    await client.aclose()


@pytest.fixture
def make_product(
    sessions: async_sessionmaker[AsyncSession],
) -> Callable[..., Awaitable[str]]:
    """A catalog item of the test's own, so tests never share stock."""

    async def create(available: int = 10, price: int = 1000) -> str:
        item_id = f"test-{uuid.uuid4().hex[:12]}"
        async with sessions() as session:
            session.add(
                Product(
                    id=item_id,
                    name=f"Test item {item_id}",
                    price_cents=price,
                    available=available,
                    reserved=0,
                )
            )
            await session.commit()
        return item_id

    return create


@pytest.fixture
def make_user(sessions: async_sessionmaker[AsyncSession]) -> Callable[..., Awaitable[User]]:
    """A user row without the cost of a password hash (users' own tests register for real)."""

    async def create(role: str = "customer") -> User:
        name = f"u{uuid.uuid4().hex[:12]}"
        async with sessions() as session:
            user = User(email=f"{name}@example.test", username=name, password_hash="-", role=role)
            session.add(user)
            await session.commit()
        return user

    return create
