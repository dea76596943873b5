"""Engine and session factory; one engine per process, created by the entry point."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext import asyncio as sa_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

if TYPE_CHECKING:
    from orderflow.settings import DatabaseSettings


def make_engine(settings: DatabaseSettings) -> AsyncEngine:
    # Looked up on the module at call time: the SQLAlchemy instrumentation (ours or zero-code)
    # wraps `sqlalchemy.ext.asyncio.create_async_engine`, and must see every engine we make.
    engine: AsyncEngine = sa_asyncio.create_async_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        # No pre-ping: with asyncpg it is BEGIN/";"/ROLLBACK, three round trips at every
        # checkout (a read would cost four instead of one). A connection broken by a database
        # restart fails its one request and is discarded with its pool generation; recycling
        # bounds how old an idle connection can get.
        pool_recycle=1800,
        # asyncpg's statement cache already prepares every query once per connection.
        connect_args={"server_settings": {"application_name": "orderflow"}},
    )
    return engine


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: handlers serialise objects after the commit without reloading.
    return async_sessionmaker(engine, expire_on_commit=False)
