"""Dependency checks shared by readiness, the detailed health view and the worker."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import msgspec
from sqlalchemy import text

from orderflow.db.migrate import schema_usable

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from orderflow.resources import Resources

CHECK_TIMEOUT_SECONDS = 2.0


class HealthReport(msgspec.Struct, frozen=True):
    status: str
    database: str
    redis: str

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"

    @property
    def ready(self) -> bool:
        """What the API's readiness means: it can serve with the database alone. Without
        Redis reads fall back to the database and orders wait in the outbox, so a Redis
        outage must not take the API out of its Service (the worker is gated on Redis)."""
        return self.database == "healthy"


async def _database_ok(resources: Resources) -> bool:
    # Reachable is not enough: until the schema is one this build can use (migrations still
    # running) requests would fail, so the pod must not receive traffic yet. Same cost as
    # `SELECT 1`: one row from one tiny table.
    async with resources.engine.connect() as conn:
        version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    return schema_usable(version)


async def _redis_ok(resources: Resources) -> bool:
    return bool(await resources.redis.ping())


async def _check(probe: Awaitable[bool]) -> str:
    try:
        ok = await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)
    except Exception:  # any failure to answer is "unhealthy"; the reason is not for callers
        return "unhealthy"
    return "healthy" if ok else "unhealthy"


async def check(resources: Resources) -> HealthReport:
    database, redis = await asyncio.gather(
        _check(_database_ok(resources)), _check(_redis_ok(resources))
    )
    status = "healthy" if database == redis == "healthy" else "unhealthy"
    return HealthReport(status=status, database=database, redis=redis)
