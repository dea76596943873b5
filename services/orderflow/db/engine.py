"""Engine and session factory; one engine per process, created by the entry point."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext import asyncio as sa_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

if TYPE_CHECKING:
    from orderflow.settings import DatabaseSettings


def connect_args(settings: DatabaseSettings) -> dict[str, Any]:
    """asyncpg keywords; an ``application_name`` in DATABASE_URL overrides ours (db/libpq.py)."""
    args: dict[str, Any] = {"server_settings": {"application_name": "orderflow"}}
    if settings.connect_timeout_seconds is not None:
        args["timeout"] = settings.connect_timeout_seconds
    return args


def make_engine(settings: DatabaseSettings) -> AsyncEngine:
    # Looked up on the module at call time: the SQLAlchemy instrumentation (ours or zero-code)
    # wraps `sqlalchemy.ext.asyncio.create_async_engine`, and must see every engine we make.
    engine: AsyncEngine = sa_asyncio.create_async_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        # Past this a request is answered 503 (api/errors.py) instead of queueing unboundedly.
        pool_timeout=settings.pool_timeout_seconds,
        # No pre-ping: with asyncpg it is BEGIN/";"/ROLLBACK, three round trips at every
        # checkout (a read would cost four instead of one). A connection broken by a database
        # restart fails its one request and is discarded with its pool generation; recycling
        # bounds how old an idle connection can get.
        pool_recycle=1800,
        # asyncpg's statement cache already prepares every query once per connection.
        connect_args=connect_args(settings),
    )
    return engine


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: handlers serialise objects after the commit without reloading.
    return async_sessionmaker(engine, expire_on_commit=False)
