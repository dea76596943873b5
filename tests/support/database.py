"""Direct SQL for tests that check what the API and worker really wrote."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg


class Database:
    def __init__(self, url: str) -> None:
        self.url = url

    def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def run() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.url)
            try:
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()

        return asyncio.run(run())

    def value(self, sql: str, *args: Any) -> Any:
        rows = self.fetch(sql, *args)
        return rows[0][0] if rows else None

    def execute(self, sql: str, *args: Any) -> None:
        self.fetch(sql, *args)
