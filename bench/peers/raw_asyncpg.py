"""The physical ceiling: a bare ASGI callable on the same uvicorn, one ``SELECT`` per request
through an asyncpg pool (no ORM, no transaction, no framework), msgspec for the JSON.

* ``GET /api/articles/{slug}``: the same join orderflow's ORM query compiles to.
* ``GET /api/stock/{item_id}``: one Redis ``GET`` of orderflow's cached entry, re-encoded to
  the stock shape (database on a miss, like the others).

Run: ``DATABASE_URL=... REDIS_URL=... PORT=... python -m bench.peers.raw_asyncpg``.
"""

from __future__ import annotations

import os
from typing import Any

import asyncpg
import msgspec
from redis.asyncio import Redis

from orderflow.settings import normalize_redis_url

ARTICLE_SQL = (
    "SELECT a.slug, a.title, a.description, a.body, u.username, a.favorites_count,"
    " a.created_at, a.updated_at FROM articles a JOIN users u ON u.id = a.author_id"
    " WHERE a.slug = $1"
)
PRODUCT_SQL = "SELECT id, name, price_cents, available, reserved FROM products WHERE id = $1"
CACHE_TTL_SECONDS = 60
ARTICLES = "/api/articles/"
STOCK = "/api/stock/"
JSON_HEADERS = [(b"content-type", b"application/json")]


class Inventory(msgspec.Struct):
    item_id: str
    name: str
    price: int
    available: int
    reserved: int
    on_hand: int


class Stock(msgspec.Struct):
    item_id: str
    available: int
    reserved: int


def asyncpg_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def article(pool: Any, slug: str) -> tuple[int, bytes]:
    row = await pool.fetchrow(ARTICLE_SQL, slug)
    if row is None:
        return 404, b'{"error":"not found"}'
    fields = {
        "slug": row[0],
        "title": row[1],
        "description": row[2],
        "body": row[3],
        "author": row[4],
        "favoritesCount": row[5],
        "createdAt": row[6],
        "updatedAt": row[7],
        "favorited": False,
    }
    return 200, msgspec.json.encode({"article": fields})


async def stock(pool: Any, redis: Redis, item_id: str) -> tuple[int, bytes]:
    key = f"stock:{item_id}"
    raw = await redis.get(key)
    if raw is not None:
        inventory = msgspec.json.decode(raw, type=Inventory)
    else:
        row = await pool.fetchrow(PRODUCT_SQL, item_id)
        if row is None:
            return 404, b'{"error":"not found"}'
        inventory = Inventory(row[0], row[1], row[2], row[3], row[4], row[3] + row[4])
        await redis.set(key, msgspec.json.encode(inventory), ex=CACHE_TTL_SECONDS)
    return 200, msgspec.json.encode(
        Stock(inventory.item_id, inventory.available, inventory.reserved)
    )


class RawApp:
    def __init__(self) -> None:
        self.pool: Any = None
        self.redis = Redis.from_url(normalize_redis_url(os.environ["REDIS_URL"]))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope["path"]
        status, body = 404, b'{"error":"not found"}'
        if path.startswith(ARTICLES):
            status, body = await article(self.pool, path[len(ARTICLES) :])
        elif path.startswith(STOCK):
            status, body = await stock(self.pool, self.redis, path[len(STOCK) :])
        elif path == "/healthz":
            status, body = 200, b'{"status":"ok"}'
        await send({"type": "http.response.start", "status": status, "headers": JSON_HEADERS})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.pool = await asyncpg.create_pool(
                    asyncpg_url(os.environ["DATABASE_URL"]), min_size=10, max_size=20
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.pool.close()
                await self.redis.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


app = RawApp()

if __name__ == "__main__":
    from bench.peers.serve import serve

    serve(app)
