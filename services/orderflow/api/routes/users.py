"""Registration, login, the current user and logout."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from orderflow.api.deps import Caller, RequestContext, provide_caller
from orderflow.api.fields import Email, Password, Username
from orderflow.api.login_throttle import LoginThrottle
from orderflow.domain.errors import AuthenticationError
from orderflow.domain.users.service import UserService, UserView


class RegisterRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    username: Username
    password: Password


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password


class RegisteredUser(msgspec.Struct, frozen=True):
    user: UserView
    token: str


class TokenResponse(msgspec.Struct, frozen=True):
    token: str


class UserResponse(msgspec.Struct, frozen=True):
    user: UserView


class UserController(Controller):
    path = "/api"
    tags = ["users"]  # noqa: RUF012 - Litestar reads class attributes

    @post("/register", status_code=HTTP_201_CREATED)
    async def register(self, data: RegisterRequest, ctx: RequestContext) -> RegisteredUser:
        user, token = await UserService(ctx.session, ctx.tokens, ctx.passwords).register(
            data.email, data.username, data.password
        )
        return RegisteredUser(user=user, token=token)

    @post("/login", status_code=HTTP_200_OK)
    async def login(
        self, data: LoginRequest, ctx: RequestContext, request: Request[Any, Any, Any], state: State
    ) -> TokenResponse:
        throttle: LoginThrottle = state.login_throttle
        # The peer, or the X-Forwarded-For client when the peer is a trusted proxy (uvicorn's
        # FORWARDED_ALLOW_IPS).
        client = request.client.host if request.client else "unknown"
        ticket = await throttle.attempt(data.email, client)
        try:
            token = await UserService(ctx.session, ctx.tokens, ctx.passwords).login(
                data.email, data.password
            )
        except AuthenticationError:
            raise  # a failure keeps its slot: that is what is counted
        except BaseException:
            await throttle.give_back(ticket)  # not the client's failure (e.g. database down)
            raise
        await throttle.give_back(ticket)
        return TokenResponse(token)

    @get("/user", dependencies={"caller": Provide(provide_caller)})
    async def me(self, caller: Caller) -> UserResponse:
        return UserResponse(caller.user)

    @post("/logout", status_code=HTTP_200_OK, dependencies={"caller": Provide(provide_caller)})
    async def logout(self, caller: Caller, ctx: RequestContext) -> dict[str, str]:
        await UserService(ctx.session, ctx.tokens, ctx.passwords).logout(caller.claims)
        return {"status": "logged out"}
