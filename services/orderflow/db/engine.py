"""Engine and session factory; one engine per process, created by the entry point."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:
    from orderflow.settings import DatabaseSettings


def make_engine(settings: DatabaseSettings) -> AsyncEngine:
    return create_async_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_pre_ping=True,
        # asyncpg's statement cache already prepares every query once per connection.
        connect_args={"server_settings": {"application_name": "orderflow"}},
    )


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: handlers serialise objects after the commit without reloading.
    return async_sessionmaker(engine, expire_on_commit=False)
