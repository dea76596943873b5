"""Direct SQL for tests that check what the API and worker really wrote: plain calls for
synchronous tests, ``*_async`` ones inside an event loop (the domain tests)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg


class Database:
    def __init__(self, url: str) -> None:
        self.url = url

    async def fetch_async(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def value_async(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch_async(sql, *args)
        return rows[0][0] if rows else None

    async def execute_async(self, sql: str, *args: Any) -> None:
        await self.fetch_async(sql, *args)

    def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return asyncio.run(self.fetch_async(sql, *args))

    def value(self, sql: str, *args: Any) -> Any:
        return asyncio.run(self.value_async(sql, *args))

    def execute(self, sql: str, *args: Any) -> None:
        self.fetch(sql, *args)
