"""The FastAPI peer: the same endpoints from the same SQLAlchemy models and database, written
the way the FastAPI documentation teaches (an ``AsyncSession`` per request as a dependency,
pydantic response models, a module-level engine with default pool options).

* ``GET /api/articles/{slug}``: one ORM ``select(Article, User.username)`` join, no cache
  (the database-read path).
* ``GET /api/stock/{item_id}``: cache-aside over Redis on orderflow's own key and JSON shape
  (``stock:<id>``), so both apps serve the very same cached bytes.

Run: ``DATABASE_URL=... REDIS_URL=... PORT=... python -m bench.peers.fastapi_app``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from orderflow.db.models import Article, Product, User
from orderflow.settings import normalize_database_url, normalize_redis_url

CACHE_TTL_SECONDS = 60  # orderflow's default CACHE_TTL_SECONDS

engine = create_async_engine(
    normalize_database_url(os.environ["DATABASE_URL"]), pool_size=10, max_overflow=10
)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
redis = Redis.from_url(normalize_redis_url(os.environ["REDIS_URL"]))


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class ArticleOut(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    slug: str
    title: str
    description: str
    body: str
    author: str
    favorites_count: int
    created_at: datetime
    updated_at: datetime
    favorited: bool = False


class ArticleResponse(BaseModel):
    article: ArticleOut


class Inventory(BaseModel):
    """orderflow's cached ``InventoryView``."""

    item_id: str
    name: str
    price: int
    available: int
    reserved: int
    on_hand: int


class StockOut(BaseModel):
    item_id: str
    available: int
    reserved: int


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    await redis.aclose()
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/articles/{slug}", response_model=ArticleResponse)
async def get_article(slug: str, session: SessionDep) -> ArticleResponse:
    row = (
        await session.execute(
            select(Article, User.username)
            .join(User, User.id == Article.author_id)
            .where(Article.slug == slug)
        )
    ).one_or_none()
    if row is None:
        raise HTTPException(status_code=404, detail="article not found")
    article, author = row
    return ArticleResponse(
        article=ArticleOut(
            slug=article.slug,
            title=article.title,
            description=article.description,
            body=article.body,
            author=author,
            favorites_count=article.favorites_count,
            created_at=article.created_at,
            updated_at=article.updated_at,
        )
    )


@app.get("/api/stock/{item_id}", response_model=StockOut)
async def get_stock(item_id: str, session: SessionDep) -> StockOut:
    key = f"stock:{item_id}"
    raw = await redis.get(key)
    if raw is not None:
        inventory = Inventory.model_validate_json(raw)
    else:
        product = await session.get(Product, item_id)
        if product is None:
            raise HTTPException(status_code=404, detail="item not found")
        inventory = Inventory(
            item_id=product.id,
            name=product.name,
            price=product.price_cents,
            available=product.available,
            reserved=product.reserved,
            on_hand=product.available + product.reserved,
        )
        await redis.set(key, inventory.model_dump_json(), ex=CACHE_TTL_SECONDS)
    return StockOut(
        item_id=inventory.item_id, available=inventory.available, reserved=inventory.reserved
    )


if __name__ == "__main__":
    from bench.peers.serve import serve

    serve(app)
