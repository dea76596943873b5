"""Process-wide connections shared by the API and the worker: one engine, one Redis client,
one cache. Created by the entry point, closed on shutdown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from orderflow.cache import Cache
from orderflow.db.engine import make_engine, make_session_factory
from orderflow.telemetry.clients import instrument_cache_client, trace_engine_statements

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from orderflow.settings import Settings

# Short socket timeouts: a dead Redis must cost a request milliseconds, not seconds.
REDIS_TIMEOUT_SECONDS = 0.5


@dataclass(slots=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]
    """Autocommit sessions for plain reads (no transaction round trips); same pool."""
    redis: Redis
    cache: Cache

    @classmethod
    def open(cls, settings: Settings) -> Resources:
        engine = make_engine(settings.database)
        trace_engine_statements(engine)
        redis = Redis.from_url(
            settings.redis.url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            health_check_interval=30,
        )
        instrument_cache_client(redis)
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            read_sessions=make_session_factory(
                engine.execution_options(isolation_level="AUTOCOMMIT")
            ),
            redis=redis,
            cache=Cache(redis, settings.app.cache_ttl_seconds),
        )

    async def close(self) -> None:
        await self.redis.aclose()
        await self.engine.dispose()
