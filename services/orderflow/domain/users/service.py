"""Registration, login, logout and token verification."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec
from sqlalchemy import delete, exists, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from orderflow.db.models import RevokedToken, User
from orderflow.domain.errors import AuthenticationError, ConflictError, InvalidInputError
from orderflow.domain.telemetry import meter, tracer
from orderflow.domain.users.roles import Role
from orderflow.domain.users.security import PasswordHashing, TokenClaims, TokenCodec

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,64}")

_registrations = meter.create_counter(
    "auth.registration.total", unit="{registration}", description="Successful registrations"
)
_logins = meter.create_counter(
    "auth.login.attempts", unit="{attempt}", description="Login attempts by outcome"
)


class UserView(msgspec.Struct, frozen=True):
    id: int
    email: str
    username: str
    role: Role = Role.CUSTOMER


def _view(user: User) -> UserView:
    return UserView(id=user.id, email=user.email, username=user.username, role=Role(user.role))


class UserService:
    def __init__(
        self, session: AsyncSession, tokens: TokenCodec, passwords: PasswordHashing
    ) -> None:
        self._session = session
        self._tokens = tokens
        self._passwords = passwords

    async def register(self, email: str, username: str, password: str) -> tuple[UserView, str]:
        with tracer.start_as_current_span("user.register"):
            email = email.strip().lower()
            # fullmatch: with match() and `$`, a trailing newline slipped through and made a
            # second "alice" next to the first.
            if not _EMAIL.fullmatch(email):
                raise InvalidInputError("email is not a valid address")
            if not _USERNAME.fullmatch(username):
                raise InvalidInputError(
                    "username must be 3-64 characters of letters, digits, '.', '_' or '-'"
                )
            if not 8 <= len(password) <= 256:
                raise InvalidInputError("password must be 8 to 256 characters")
            user = User(
                email=email,
                username=username,
                password_hash=await self._passwords.hash(password),
            )
            self._session.add(user)
            try:
                await self._session.commit()
            except IntegrityError as exc:
                await self._session.rollback()
                raise ConflictError("email or username is already taken") from exc
            _registrations.add(1)
            return _view(user), self._tokens.issue(user.id)

    async def login(self, email: str, password: str) -> str:
        with tracer.start_as_current_span("user.login") as span:
            user = await self._session.scalar(
                select(User).where(User.email == email.strip().lower())
            )
            # One message for both failures: which part was wrong is not revealed.
            if (
                not await self._passwords.verify(user.password_hash if user else None, password)
                or not user
            ):
                _logins.add(1, {"outcome": "failure"})
                span.set_attribute("auth.outcome", "failure")
                raise AuthenticationError("invalid email or password")
            _logins.add(1, {"outcome": "success"})
            span.set_attribute("auth.outcome", "success")
            return self._tokens.issue(user.id)

    async def authenticate(self, token: str) -> tuple[UserView, TokenClaims]:
        claims = self._tokens.verify(token)
        # One round trip: the user, unless this token was revoked.
        user = await self._session.scalar(
            select(User).where(
                User.id == claims.user_id,
                ~exists().where(RevokedToken.jti == claims.jti),
            )
        )
        if user is None:
            raise AuthenticationError("token revoked or user no longer exists")
        return _view(user), claims

    async def logout(self, claims: TokenClaims) -> None:
        expires_at = datetime.fromtimestamp(claims.expires_at, UTC)
        await self._session.execute(
            insert(RevokedToken)
            .values(jti=claims.jti, expires_at=expires_at)
            .on_conflict_do_nothing()
        )
        # Housekeeping: rows of tokens that expired by themselves are no longer needed.
        await self._session.execute(
            delete(RevokedToken).where(RevokedToken.expires_at < datetime.now(UTC))
        )
        await self._session.commit()


async def set_role(session: AsyncSession, email: str, role: Role) -> bool:
    """Give the user with this email a role; False when there is no such user. Commits."""
    changed = await session.scalar(
        update(User)
        .where(User.email == email.strip().lower())
        .values(role=str(role))
        .returning(User.id)
    )
    await session.commit()
    return changed is not None
