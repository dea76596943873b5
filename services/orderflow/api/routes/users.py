"""Registration, login, the current user and logout."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, post
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from orderflow.api.deps import Caller, provide_caller
from orderflow.domain.users.security import TokenCodec
from orderflow.domain.users.service import UserService, UserView


class RegisterRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    username: str
    password: str


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    password: str


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
    async def register(
        self, data: RegisterRequest, db_session: AsyncSession, tokens: TokenCodec
    ) -> RegisteredUser:
        user, token = await UserService(db_session, tokens).register(
            data.email, data.username, data.password
        )
        return RegisteredUser(user=user, token=token)

    @post("/login", status_code=HTTP_200_OK)
    async def login(
        self, data: LoginRequest, db_session: AsyncSession, tokens: TokenCodec
    ) -> TokenResponse:
        return TokenResponse(await UserService(db_session, tokens).login(data.email, data.password))

    @get("/user", dependencies={"caller": Provide(provide_caller)})
    async def me(self, caller: Caller) -> UserResponse:
        return UserResponse(caller.user)

    @post("/logout", status_code=HTTP_200_OK, dependencies={"caller": Provide(provide_caller)})
    async def logout(
        self, caller: Caller, db_session: AsyncSession, tokens: TokenCodec
    ) -> dict[str, str]:
        await UserService(db_session, tokens).logout(caller.claims)
        return {"status": "logged out"}
