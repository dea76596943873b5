"""Password hashing and token issue/verify."""

from __future__ import annotations

import time

import jwt
import pytest

from orderflow.domain.errors import AuthenticationError
from orderflow.domain.users.security import TokenCodec, hash_password, verify_password

SECRET = "s" * 32


def test_argon2id_hash_verifies_only_the_right_password() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")  # OWASP's parameters
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password(None, "correct horse")
    assert not verify_password("not-a-hash", "x")


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
