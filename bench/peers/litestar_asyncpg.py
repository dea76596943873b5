"""The framework ceiling: Litestar with raw asyncpg handlers (no ORM, no transaction).

The same two queries and JSON as the bare-ASGI ceiling (``bench.peers.raw_asyncpg``), served
through Litestar's routing, parameter parsing and response path on the same uvicorn: the gap
to raw-asyncpg is the framework's cost, the gap from here to orderflow-off is the ORM's and the
product's own (dependencies, cache-aside, error handling).

Run: ``DATABASE_URL=... REDIS_URL=... PORT=... python -m bench.peers.litestar_asyncpg``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar, Response, get
from redis.asyncio import Redis

from bench.peers.raw_asyncpg import article, asyncpg_url, stock
from orderflow.settings import normalize_redis_url

JSON = "application/json"
state: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(_: Litestar) -> AsyncIterator[None]:
    state["pool"] = await asyncpg.create_pool(
        asyncpg_url(os.environ["DATABASE_URL"]), min_size=10, max_size=20
    )
    state["redis"] = Redis.from_url(normalize_redis_url(os.environ["REDIS_URL"]))
    try:
        yield
    finally:
        await state["pool"].close()
        await state["redis"].aclose()


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/api/articles/{slug:str}")
async def get_article(slug: str) -> Response[bytes]:
    status, body = await article(state["pool"], slug)
    return Response(body, status_code=status, media_type=JSON)


@get("/api/stock/{item_id:str}")
async def get_stock(item_id: str) -> Response[bytes]:
    status, body = await stock(state["pool"], state["redis"], item_id)
    return Response(body, status_code=status, media_type=JSON)


app = Litestar([healthz, get_article, get_stock], lifespan=[lifespan], openapi_config=None)

if __name__ == "__main__":
    from bench.peers.serve import serve

    serve(app)
