"""Password hashing and token issue/verify."""

from __future__ import annotations

import asyncio
import threading
import time

import jwt
import pytest

from orderflow.domain.errors import AuthenticationError
from orderflow.domain.users import security
from orderflow.domain.users.security import (
    PasswordHashing,
    TokenCodec,
    hash_password,
    verify_password,
)

SECRET = "s" * 32


def test_argon2id_hash_verifies_only_the_right_password() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")  # OWASP's parameters
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password(None, "correct horse")
    assert not verify_password("not-a-hash", "x")


async def test_hashing_runs_off_the_loop_and_verifies() -> None:
    passwords = PasswordHashing(threads=2)
    try:
        hashed = await passwords.hash("correct horse")
        assert await passwords.verify(hashed, "correct horse")
        assert not await passwords.verify(hashed, "wrong horse")
        assert not await passwords.verify(None, "correct horse")
    finally:
        passwords.close()


async def test_no_more_hashes_at_once_than_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each hash holds 19 MiB: eight logins at once must not mean eight hashes at once."""
    running, peak, names = 0, 0, set()
    lock = threading.Lock()

    def tracked_hash(password: str) -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            names.add(threading.current_thread().name)
        time.sleep(0.05)  # long enough for every request to have been handed over
        with lock:
            running -= 1
        return password

    monkeypatch.setattr(security, "hash_password", tracked_hash)
    passwords = PasswordHashing(threads=2)
    try:
        results = await asyncio.gather(*(passwords.hash(f"p{i}") for i in range(8)))
    finally:
        passwords.close()
    assert results == [f"p{i}" for i in range(8)]  # every request answered, in its own order
    assert peak == 2
    assert all(name.startswith("argon2") for name in names)


def test_token_round_trip_and_unique_ids() -> None:
    codec = TokenCodec(SECRET, 60)
    first, second = codec.verify(codec.issue(7)), codec.verify(codec.issue(7))
    assert first.user_id == 7 and first.jti != second.jti
    assert first.expires_at == pytest.approx(time.time() + 60, abs=2)


def test_token_failures() -> None:
    codec = TokenCodec(SECRET, 60)
    with pytest.raises(AuthenticationError, match="invalid"):
        TokenCodec("o" * 32, 60).verify(codec.issue(1))
    with pytest.raises(AuthenticationError, match="expired"):
        codec.verify(TokenCodec(SECRET, -10).issue(1))
    missing_jti = jwt.encode({"sub": "1", "exp": int(time.time()) + 60}, SECRET, "HS256")
    with pytest.raises(AuthenticationError):
        codec.verify(missing_jti)
    with pytest.raises(AuthenticationError):
        codec.verify("garbage")
