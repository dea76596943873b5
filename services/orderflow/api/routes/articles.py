"""Articles by slug, with owner checks and idempotent favorites."""

from __future__ import annotations

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from orderflow.api.deps import Caller, RequestContext, provide_caller, provide_optional_caller
from orderflow.api.fields import Body, Description, Limit, Offset, SlugPath, Title, UsernameQuery
from orderflow.domain.articles.service import ArticlePage, ArticleService, ArticleView


class NewArticle(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    description: Description
    body: Body


class ArticleChanges(msgspec.Struct, forbid_unknown_fields=True):
    title: Title | None = None
    description: Description | None = None
    body: Body | None = None


class ArticleResponse(msgspec.Struct, frozen=True):
    article: ArticleView


_auth = {"caller": Provide(provide_caller)}
_optional_auth = {"caller": Provide(provide_optional_caller)}


class ArticleController(Controller):
    path = "/api/articles"
    tags = ["articles"]  # noqa: RUF012 - Litestar reads class attributes

    @get("/", dependencies=_optional_auth)
    async def list_articles(
        self,
        ctx: RequestContext,
        caller: Caller | None,
        author: UsernameQuery = None,
        favorited: UsernameQuery = None,
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> ArticlePage:
        return await ArticleService(ctx.session, ctx.cache).search(
            author=author,
            favorited_by=favorited,
            limit=limit,
            offset=offset,
            viewer_id=caller.id if caller else None,
        )

    @post("/", status_code=HTTP_201_CREATED, dependencies=_auth)
    async def create_article(
        self, data: NewArticle, ctx: RequestContext, caller: Caller
    ) -> ArticleResponse:
        article = await ArticleService(ctx.session, ctx.cache).create(
            caller.id, data.title, data.description, data.body
        )
        return ArticleResponse(article)

    @get("/{slug:str}", dependencies=_optional_auth)
    async def get_article(
        self, slug: SlugPath, ctx: RequestContext, caller: Caller | None
    ) -> ArticleResponse:
        article = await ArticleService(ctx.session, ctx.cache).get(
            slug, caller.id if caller else None
        )
        return ArticleResponse(article)

    @put("/{slug:str}", dependencies=_auth)
    async def update_article(
        self,
        slug: SlugPath,
        data: ArticleChanges,
        ctx: RequestContext,
        caller: Caller,
    ) -> ArticleResponse:
        article = await ArticleService(ctx.session, ctx.cache).update(
            slug, caller.id, title=data.title, description=data.description, body=data.body
        )
        return ArticleResponse(article)

    @delete("/{slug:str}", status_code=HTTP_204_NO_CONTENT, dependencies=_auth)
    async def delete_article(self, slug: SlugPath, ctx: RequestContext, caller: Caller) -> None:
        await ArticleService(ctx.session, ctx.cache).delete(slug, caller.id)

    @post("/{slug:str}/favorite", status_code=HTTP_200_OK, dependencies=_auth)
    async def favorite(
        self, slug: SlugPath, ctx: RequestContext, caller: Caller
    ) -> ArticleResponse:
        return ArticleResponse(
            await ArticleService(ctx.session, ctx.cache).favorite(slug, caller.id)
        )

    @delete("/{slug:str}/favorite", status_code=HTTP_200_OK, dependencies=_auth)
    async def unfavorite(
        self, slug: SlugPath, ctx: RequestContext, caller: Caller
    ) -> ArticleResponse:
        return ArticleResponse(
            await ArticleService(ctx.session, ctx.cache).unfavorite(slug, caller.id)
        )
