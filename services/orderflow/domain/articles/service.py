"""Article CRUD by slug with owner checks, filtered listing, and idempotent favorites."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from orderflow.db.models import Article, Favorite, User
from orderflow.domain.errors import ForbiddenError, InvalidInputError, NotFoundError
from orderflow.domain.telemetry import meter, tracer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from orderflow.cache import Cache

_created = meter.create_counter("articles.created", unit="{article}", description="New articles")
_favorites = meter.create_counter(
    "articles.favorites", unit="{favorite}", description="Favorite and unfavorite actions"
)


class ArticleView(msgspec.Struct, frozen=True, rename="camel"):
    slug: str
    title: str
    description: str
    body: str
    author: str
    favorites_count: int
    created_at: datetime
    updated_at: datetime
    favorited: bool = False


class ArticlePage(msgspec.Struct, frozen=True, rename="camel"):
    articles: list[ArticleView]
    articles_count: int


def slugify(title: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:80] or "article"
    # A short random suffix keeps slugs unique without a read-then-write race.
    return f"{base}-{secrets.token_hex(3)}"


# Reads select plain columns in ArticleView's field order: no ORM objects, no identity map,
# a row becomes a view directly (the read path is the hot one).
_VIEW_COLUMNS = (
    Article.slug,
    Article.title,
    Article.description,
    Article.body,
    User.username,
    Article.favorites_count,
    Article.created_at,
    Article.updated_at,
)


# Built once: constructing a select() per request costs more than executing its cached SQL.
_BY_SLUG = (
    select(*_VIEW_COLUMNS)
    .join(User, User.id == Article.author_id)
    .where(Article.slug == bindparam("slug"))
)


def _from_columns(row: Sequence[Any], favorited: bool = False) -> ArticleView:
    return ArticleView(*[*row, favorited])  # the columns, then the viewer-specific flag


def _cache_key(slug: str) -> str:
    return f"article:{slug}"


def _view(article: Article, author: str, favorited: bool = False) -> ArticleView:
    return ArticleView(
        slug=article.slug,
        title=article.title,
        description=article.description,
        body=article.body,
        author=author,
        favorites_count=article.favorites_count,
        created_at=article.created_at,
        updated_at=article.updated_at,
        favorited=favorited,
    )


def _require_text(name: str, value: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise InvalidInputError(f"{name} must not be empty")
    if len(value) > limit:
        raise InvalidInputError(f"{name} must be at most {limit} characters")
    return value


class ArticleService:
    def __init__(self, session: AsyncSession, cache: Cache) -> None:
        self._session = session
        self._cache = cache

    async def _row(self, slug: str) -> tuple[Article, str]:
        row = (
            await self._session.execute(
                select(Article, User.username)
                .join(User, User.id == Article.author_id)
                .where(Article.slug == slug)
            )
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"article {slug!r} not found")
        return row[0], row[1]

    async def _is_favorited(self, article_slug: str, user_id: int) -> bool:
        found = await self._session.scalar(
            select(Favorite.user_id)
            .join(Article, Article.id == Favorite.article_id)
            .where(Article.slug == article_slug, Favorite.user_id == user_id)
        )
        return found is not None

    async def get(self, slug: str, viewer_id: int | None = None) -> ArticleView:
        view = await self._cache.get(_cache_key(slug), ArticleView)
        if view is None:
            row = (await self._session.execute(_BY_SLUG, {"slug": slug})).first()
            if row is None:
                raise NotFoundError(f"article {slug!r} not found")
            view = _from_columns(row)
            await self._cache.set(_cache_key(slug), view)
        if viewer_id is not None and await self._is_favorited(slug, viewer_id):
            return msgspec.structs.replace(view, favorited=True)
        return view

    async def search(
        self,
        *,
        author: str | None,
        favorited_by: str | None,
        limit: int,
        offset: int,
        viewer_id: int | None,
    ) -> ArticlePage:
        query = select(Article.id, *_VIEW_COLUMNS).join(User, User.id == Article.author_id)
        if author is not None:
            query = query.where(User.username == author)
        if favorited_by is not None:
            fan = select(User.id).where(User.username == favorited_by).scalar_subquery()
            query = query.join(Favorite, Favorite.article_id == Article.id).where(
                Favorite.user_id == fan
            )
        total = await self._session.scalar(select(func.count()).select_from(query.subquery()))
        rows = (
            await self._session.execute(
                query.order_by(Article.created_at.desc(), Article.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
        favorited: set[int] = set()
        if viewer_id is not None and rows:
            favorited = set(
                (
                    await self._session.scalars(
                        select(Favorite.article_id).where(
                            Favorite.user_id == viewer_id,
                            Favorite.article_id.in_([row[0] for row in rows]),
                        )
                    )
                ).all()
            )
        return ArticlePage(
            articles=[_from_columns(row[1:], row[0] in favorited) for row in rows],
            articles_count=total or 0,
        )

    async def create(self, author_id: int, title: str, description: str, body: str) -> ArticleView:
        with tracer.start_as_current_span("article.create") as span:
            article = Article(
                slug=slugify(_require_text("title", title, 200)),
                title=title.strip(),
                description=_require_text("description", description, 500),
                body=_require_text("body", body, 100_000),
                author_id=author_id,
            )
            self._session.add(article)
            await self._session.commit()
            span.set_attribute("article.slug", article.slug)
            _created.add(1)
            author = await self._session.scalar(select(User.username).where(User.id == author_id))
            return _view(article, author or "")

    async def update(
        self,
        slug: str,
        user_id: int,
        *,
        title: str | None,
        description: str | None,
        body: str | None,
    ) -> ArticleView:
        with tracer.start_as_current_span("article.update") as span:
            span.set_attribute("article.slug", slug)
            article, author = await self._row(slug)
            if article.author_id != user_id:
                raise ForbiddenError("only the author may edit this article")
            # The slug is a permanent address: a new title does not change it.
            if title is not None:
                article.title = _require_text("title", title, 200)
            if description is not None:
                article.description = _require_text("description", description, 500)
            if body is not None:
                article.body = _require_text("body", body, 100_000)
            await self._session.commit()
            await self._session.refresh(article)
            await self._cache.invalidate(_cache_key(slug))
            return _view(article, author)

    async def delete(self, slug: str, user_id: int) -> None:
        with tracer.start_as_current_span("article.delete") as span:
            span.set_attribute("article.slug", slug)
            article, _ = await self._row(slug)
            if article.author_id != user_id:
                raise ForbiddenError("only the author may delete this article")
            await self._session.delete(article)
            await self._session.commit()
            await self._cache.invalidate(_cache_key(slug))

    async def favorite(self, slug: str, user_id: int) -> ArticleView:
        with tracer.start_as_current_span("article.favorite") as span:
            span.set_attribute("article.slug", slug)
            article_id = await self._article_id(slug)
            try:
                inserted = await self._session.scalar(
                    insert(Favorite)
                    .values(user_id=user_id, article_id=article_id)
                    .on_conflict_do_nothing()
                    .returning(Favorite.article_id)
                )
            except IntegrityError as exc:
                # The article was deleted between the lookup and the insert (foreign key).
                raise NotFoundError(f"article {slug!r} not found") from exc
            # Only a row that was really inserted moves the counter: idempotent and exact,
            # since the UPDATE serialises concurrent favorites on the article row.
            if inserted is not None:
                await self._bump(article_id, +1)
                _favorites.add(1, {"action": "favorite"})
            await self._session.commit()
            await self._cache.invalidate(_cache_key(slug))
            return await self.get(slug, user_id)

    async def unfavorite(self, slug: str, user_id: int) -> ArticleView:
        with tracer.start_as_current_span("article.unfavorite") as span:
            span.set_attribute("article.slug", slug)
            article_id = await self._article_id(slug)
            removed = await self._session.scalar(
                delete(Favorite)
                .where(Favorite.user_id == user_id, Favorite.article_id == article_id)
                .returning(Favorite.article_id)
            )
            if removed is not None:
                await self._bump(article_id, -1)
                _favorites.add(1, {"action": "unfavorite"})
            await self._session.commit()
            await self._cache.invalidate(_cache_key(slug))
            return await self.get(slug, user_id)

    async def _article_id(self, slug: str) -> int:
        article_id = await self._session.scalar(select(Article.id).where(Article.slug == slug))
        if article_id is None:
            raise NotFoundError(f"article {slug!r} not found")
        return article_id

    async def _bump(self, article_id: int, delta: int) -> None:
        await self._session.execute(
            update(Article)
            .where(Article.id == article_id)
            .values(favorites_count=Article.favorites_count + delta)
        )
