"""Registration, login, token checks, logout and roles through UserService."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from orderflow.domain.errors import AuthenticationError, ConflictError, InvalidInputError
from orderflow.domain.users.roles import Role
from orderflow.domain.users.security import PasswordHashing, TokenCodec
from orderflow.domain.users.service import UserService, set_role
from tests.support.database import Database

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.ext.asyncio import AsyncSession

CODEC = TokenCodec("t" * 32, 3600)
PASSWORD = "correct horse"


@pytest.fixture
def passwords() -> Iterator[PasswordHashing]:
    hashing = PasswordHashing(threads=2)
    yield hashing
    hashing.close()


def fresh_name() -> str:
    return f"u{uuid.uuid4().hex[:12]}"


async def test_register_normalises_the_email_and_issues_a_working_token(
    session: AsyncSession,
    passwords: PasswordHashing,
) -> None:
    users = UserService(session, CODEC, passwords)
    name = fresh_name()
    user, token = await users.register(f"  {name.upper()}@Example.TEST ", name, PASSWORD)
    assert user.email == f"{name}@example.test"
    assert user.role is Role.CUSTOMER
    assert (await users.authenticate(token))[0] == user
    # Logging in with another spelling of the same address finds the same account.
    login = await users.login(f"{name.upper()}@EXAMPLE.test", PASSWORD)
    assert CODEC.verify(login).user_id == user.id


async def test_taken_email_or_username_is_a_conflict(
    session: AsyncSession, passwords: PasswordHashing
) -> None:
    users = UserService(session, CODEC, passwords)
    name = fresh_name()
    await users.register(f"{name}@example.test", name, PASSWORD)
    with pytest.raises(ConflictError):
        await users.register(f"{name}@example.test", fresh_name(), PASSWORD)
    with pytest.raises(ConflictError):
        await users.register(f"{fresh_name()}@example.test", name, PASSWORD)


@pytest.mark.parametrize(
    ("email", "username", "password"),
    [
        ("no-at-sign", None, PASSWORD),
        ("{name}@example.test", "x", PASSWORD),
        ("{name}@example.test", "{name}\n", PASSWORD),  # fullmatch, not match
        ("{name}@example.test", None, "short"),
    ],
)
async def test_invalid_registrations_are_refused(
    session: AsyncSession,
    passwords: PasswordHashing,
    db: Database,
    email: str,
    username: str | None,
    password: str,
) -> None:
    name = fresh_name()
    email, username = email.format(name=name), (username or name).format(name=name)
    with pytest.raises(InvalidInputError):
        await UserService(session, CODEC, passwords).register(email, username, password)
    assert (
        await db.value_async("SELECT count(*) FROM users WHERE username LIKE $1", name + "%") == 0
    )


async def test_login_failures_do_not_say_which_part_was_wrong(
    session: AsyncSession, passwords: PasswordHashing
) -> None:
    users = UserService(session, CODEC, passwords)
    name = fresh_name()
    await users.register(f"{name}@example.test", name, PASSWORD)
    with pytest.raises(AuthenticationError) as wrong_password:
        await users.login(f"{name}@example.test", "wrong horse")
    with pytest.raises(AuthenticationError) as unknown_email:
        await users.login(f"{fresh_name()}@example.test", PASSWORD)
    assert str(wrong_password.value) == str(unknown_email.value)


async def test_logout_revokes_the_token_at_once_and_twice_is_harmless(
    session: AsyncSession, passwords: PasswordHashing, db: Database
) -> None:
    users = UserService(session, CODEC, passwords)
    name = fresh_name()
    _, token = await users.register(f"{name}@example.test", name, PASSWORD)
    other = await users.login(f"{name}@example.test", PASSWORD)
    _, claims = await users.authenticate(token)
    await users.logout(claims)
    await users.logout(claims)
    with pytest.raises(AuthenticationError, match="revoked"):
        await users.authenticate(token)
    await users.authenticate(other)  # only that token: the account's other sessions live on
    revoked = await db.value_async("SELECT count(*) FROM revoked_tokens WHERE jti = $1", claims.jti)
    assert revoked == 1


async def test_logout_forgets_revocations_of_tokens_that_expired_anyway(
    session: AsyncSession, passwords: PasswordHashing, db: Database
) -> None:
    expired = uuid.uuid4()
    await db.execute_async(
        "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, now() - interval '1 second')",
        expired,
    )
    users = UserService(session, CODEC, passwords)
    name = fresh_name()
    _, token = await users.register(f"{name}@example.test", name, PASSWORD)
    await users.logout((await users.authenticate(token))[1])
    assert await db.value_async("SELECT count(*) FROM revoked_tokens WHERE jti = $1", expired) == 0


async def test_roles_take_effect_on_the_next_authentication(
    session: AsyncSession, passwords: PasswordHashing
) -> None:
    users = UserService(session, CODEC, passwords)
    name = fresh_name()
    _, token = await users.register(f"{name}@example.test", name, PASSWORD)
    assert await set_role(session, f" {name.upper()}@example.test", Role.STAFF)
    assert (await users.authenticate(token))[0].role is Role.STAFF
    assert await set_role(session, f"{name}@example.test", Role.CUSTOMER)
    assert (await users.authenticate(token))[0].role is Role.CUSTOMER
    assert not await set_role(session, f"{fresh_name()}@example.test", Role.STAFF)
