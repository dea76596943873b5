"""Password hashing (argon2id) and JWT (HS256) issue/verify."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from orderflow.domain.errors import AuthenticationError

# argon2id with OWASP's recommended minimum (m=19 MiB, t=2, p=1): ~10-20 ms per hash on one
# core, against the library default (64 MiB, t=3, p=4) that costs several times more CPU and
# memory per login. Existing hashes keep verifying: the parameters are stored in each hash.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
# Verified against when the user does not exist, so a miss costs as much as a wrong password
# and response time does not reveal which emails are registered.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


class PasswordHashing:
    """argon2id off the event loop, at most ``threads`` hashes at a time.

    Each hash holds argon2's 19 MiB of working memory while it runs and keeps one core busy:
    threads beyond the pod's CPUs add memory, not throughput. ``asyncio.to_thread`` would use
    the default executor, sized from the *node's* CPUs (``min(32, cpus + 4)``): a burst of
    logins on a large node could hold 32 x 19 MiB at once in a pod limited to a few hundred MiB.
    Extra requests wait in the executor's queue: memory stays bounded, a burst waits longer.
    """

    def __init__(self, threads: int) -> None:
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")

    async def hash(self, password: str) -> str:
        """argon2 releases the GIL: the event loop keeps serving meanwhile."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, hash_password, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, verify_password, password_hash, password)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    jti: uuid.UUID
    expires_at: float


class TokenCodec:
    """Issues and verifies the API's bearer tokens."""

    algorithm = "HS256"

    def __init__(self, secret: str, lifetime_seconds: float) -> None:
        self._secret = secret
        self._lifetime = lifetime_seconds

    def issue(self, user_id: int) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + int(self._lifetime),
        }
        return jwt.encode(claims, self._secret, algorithm=self.algorithm)

    def verify(self, token: str) -> TokenClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self.algorithm],
                options={"require": ["sub", "jti", "exp"]},
            )
            return TokenClaims(
                user_id=int(claims["sub"]),
                jti=uuid.UUID(claims["jti"]),
                expires_at=float(claims["exp"]),
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("token expired") from exc
        except (jwt.InvalidTokenError, ValueError) as exc:
            raise AuthenticationError("invalid token") from exc
