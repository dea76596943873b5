"""Dependencies injected into handlers: the request's session, services and the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar import Request
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from orderflow.cache import Cache
from orderflow.domain.errors import AuthenticationError
from orderflow.domain.users.roles import Role
from orderflow.domain.users.security import PasswordHashing, TokenClaims, TokenCodec
from orderflow.domain.users.service import UserService, UserView

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from orderflow.resources import Resources


def resources_of(state: State) -> Resources:
    resources: Resources = state.resources
    return resources


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What a handler works with: the request's session, the cache and the token codec.

    One dependency rather than three: Litestar resolves several providers of the same level
    concurrently in an anyio task group, which costs more per request than the providers do.
    """

    session: AsyncSession
    cache: Cache
    tokens: TokenCodec
    passwords: PasswordHashing


async def provide_context(
    state: State, request: Request[Any, Any, Any]
) -> AsyncGenerator[RequestContext, None]:
    resources = resources_of(state)
    # GET handlers only read: an autocommit session saves the BEGIN/ROLLBACK round trips a
    # transaction would wrap around every read. Writes get a transaction, and closing it rolls
    # back whatever a failed handler left uncommitted: nothing half-written.
    factory = resources.read_sessions if request.method == "GET" else resources.sessions
    async with factory() as session:
        yield RequestContext(session, resources.cache, state.tokens, state.passwords)


def bearer_token(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    # "Token" is the RealWorld spelling; both are accepted.
    if scheme.lower() not in {"bearer", "token"} or not token.strip():
        raise AuthenticationError("authorization header must be 'Bearer <token>'")
    return token.strip()


class Caller:
    """The authenticated user of a request and the claims of the token they used."""

    __slots__ = ("claims", "user")

    def __init__(self, user: UserView, claims: TokenClaims) -> None:
        self.user = user
        self.claims = claims

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def is_staff(self) -> bool:
        return self.user.role == Role.STAFF


async def provide_caller(request: Request[Any, Any, Any], ctx: RequestContext) -> Caller:
    token = bearer_token(request)
    if token is None:
        raise AuthenticationError("authentication required: send 'Authorization: Bearer <token>'")
    user, claims = await UserService(ctx.session, ctx.tokens, ctx.passwords).authenticate(token)
    return Caller(user, claims)


async def provide_optional_caller(
    request: Request[Any, Any, Any], ctx: RequestContext
) -> Caller | None:
    if request.headers.get("authorization") is None:
        return None
    return await provide_caller(request, ctx)
