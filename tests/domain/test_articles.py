"""Articles through ArticleService: owner checks, cached reads kept fresh, filters, and
favorites that are idempotent and exact under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import pytest

from orderflow.cache import Cache
from orderflow.db.models import User
from orderflow.domain.articles.service import ArticleService
from orderflow.domain.errors import ForbiddenError, InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

MakeUser = Callable[..., Awaitable[User]]


async def test_create_read_update_delete_by_the_owner_only(
    session: AsyncSession, cache: Cache, make_user: MakeUser
) -> None:
    author, other = await make_user(), await make_user()
    articles = ArticleService(session, cache)
    created = await articles.create(author.id, "  Hello, World!  ", "about", "body")
    assert created.slug.startswith("hello-world-")
    assert (created.title, created.author) == ("Hello, World!", author.username)
    assert await articles.get(created.slug) == created  # now cached
    with pytest.raises(ForbiddenError):
        await articles.update(created.slug, other.id, title="Mine", description=None, body=None)
    updated = await articles.update(
        created.slug, author.id, title="Renamed", description=None, body=None
    )
    # The slug is a permanent address; the cached copy was dropped with the change.
    assert (updated.slug, updated.title) == (created.slug, "Renamed")
    assert (await articles.get(created.slug)).title == "Renamed"
    with pytest.raises(ForbiddenError):
        await articles.delete(created.slug, other.id)
    await articles.delete(created.slug, author.id)
    with pytest.raises(NotFoundError):
        await articles.get(created.slug)


@pytest.mark.parametrize(
    ("title", "description", "body"),
    [(" ", "d", "b"), ("t", "", "b"), ("t", "d", "\n"), ("t" * 201, "d", "b")],
)
async def test_empty_or_oversized_fields_are_refused(
    session: AsyncSession,
    cache: Cache,
    make_user: MakeUser,
    title: str,
    description: str,
    body: str,
) -> None:
    with pytest.raises(InvalidInputError):
        await ArticleService(session, cache).create(
            (await make_user()).id, title, description, body
        )


async def test_favorite_is_idempotent_and_filters_follow_it(
    session: AsyncSession, cache: Cache, make_user: MakeUser
) -> None:
    author, fan = await make_user(), await make_user()
    articles = ArticleService(session, cache)
    liked = await articles.create(author.id, "Liked", "d", "b")
    await articles.create(author.id, "Ignored", "d", "b")
    assert (await articles.favorite(liked.slug, fan.id)).favorites_count == 1
    again = await articles.favorite(liked.slug, fan.id)
    assert (again.favorites_count, again.favorited) == (1, True)
    page = await articles.search(
        author=None, favorited_by=fan.username, limit=10, offset=0, viewer_id=fan.id
    )
    assert [(a.slug, a.favorited) for a in page.articles] == [(liked.slug, True)]
    by_author = await articles.search(
        author=author.username, favorited_by=None, limit=1, offset=0, viewer_id=None
    )
    assert by_author.articles_count == 2
    assert [a.title for a in by_author.articles] == ["Ignored"]  # newest first, one per page
    assert (await articles.unfavorite(liked.slug, fan.id)).favorites_count == 0
    gone = await articles.unfavorite(liked.slug, fan.id)
    assert (gone.favorites_count, gone.favorited) == (0, False)
    with pytest.raises(NotFoundError):
        await articles.favorite("no-such-article", fan.id)


async def test_concurrent_favorites_count_exactly(
    sessions: async_sessionmaker[AsyncSession], cache: Cache, make_user: MakeUser
) -> None:
    fans = [await make_user() for _ in range(8)]
    async with sessions() as session:
        slug = (await ArticleService(session, cache).create(fans[0].id, "Popular", "d", "b")).slug

    async def favorite(user_id: int, times: int) -> None:
        async with sessions() as session:
            for _ in range(times):
                await ArticleService(session, cache).favorite(slug, user_id)

    await asyncio.gather(*(favorite(fan.id, 3) for fan in fans))
    async with sessions() as session:
        assert (await ArticleService(session, cache).get(slug)).favorites_count == len(fans)
