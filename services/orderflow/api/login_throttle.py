"""Login throttling in Redis: failed attempts counted per account and client address, per
client address, and per account, in fixed windows.

- Every attempt takes a slot first (one atomic MULTI of INCRs), so concurrent guesses cannot
  all slip past a check-then-count; a successful login gives its slots back, so only failures
  use up the budget, and a refused attempt gives them back too (being refused costs nothing
  and does not lengthen anything).
- Being throttled lasts at most until the window ends (``Retry-After`` says when). The strict
  limit is per account *and* address: an attacker at one address locks out only themselves.
  The per-account limit, for guessing from many addresses, is much higher, and also ends with
  the window, so it cannot keep the owner out for long either.
- Redis down means no throttling, logged, rather than no logins: the argon2 cost still bounds
  guessing. After a failure Redis is skipped for a short cool-down, so an outage costs one
  timeout rather than one per login.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from redis.exceptions import RedisError

from orderflow.domain.errors import RateLimitedError
from orderflow.domain.telemetry import meter

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from orderflow.settings import AuthSettings

log = structlog.get_logger(__name__)
_throttled = meter.create_counter(
    "auth.login.throttled", unit="{attempt}", description="Logins refused by the throttle"
)
COOLDOWN_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Ticket:
    """The slots one attempt took; handed back on success."""

    keys: tuple[str, ...]


class LoginThrottle:
    def __init__(
        self, redis: Redis, settings: AuthSettings, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._window = settings.login_window_seconds
        limits = (
            ("account+client", settings.login_max_failures),
            ("client", settings.login_max_failures_per_client),
            ("account", settings.login_max_failures_per_account),
        )
        self._limits = [(scope, limit) for scope, limit in limits if limit]  # 0: no limit
        self._clock = clock
        self._skip_until = 0.0

    def _keys(self, email: str, client: str, window: int) -> tuple[str, ...]:
        # Hashed: neither addresses nor emails sit in Redis in clear.
        account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        address = hashlib.sha256(client.encode()).hexdigest()[:32]
        ids = {"account+client": f"{account}:{address}", "client": address, "account": account}
        return tuple(f"login:fail:{scope}:{ids[scope]}:{window}" for scope, _ in self._limits)

    def _failed(self, operation: str, exc: Exception) -> None:
        self._skip_until = time.monotonic() + COOLDOWN_SECONDS
        log.warning(
            "login throttle unavailable, not throttling", operation=operation, error=str(exc)
        )

    async def attempt(self, email: str, client: str) -> Ticket:
        """Take a slot for this attempt, or raise RateLimitedError."""
        now = self._clock()
        window = int(now // self._window)
        if not self._limits or time.monotonic() < self._skip_until:
            return Ticket(())
        keys = self._keys(email, client, window)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key in keys:
                    pipe.incr(key)
                    pipe.expire(key, self._window + 1)
                replies = await pipe.execute()
        except RedisError as exc:
            self._failed("attempt", exc)
            return Ticket(())
        ticket = Ticket(keys)
        counts = replies[::2]  # INCR, EXPIRE, INCR, EXPIRE...
        exceeded = [
            scope
            for (scope, limit), count in zip(self._limits, counts, strict=True)
            if count > limit
        ]
        if exceeded:
            await self.give_back(ticket)
            _throttled.add(1, {"auth.throttle.scope": exceeded[0]})
            retry_after = max(1, math.ceil((window + 1) * self._window - now))
            raise RateLimitedError(
                f"too many failed logins; retry in {retry_after} s", retry_after=retry_after
            )
        return ticket

    async def give_back(self, ticket: Ticket) -> None:
        """Return an attempt's slots: it succeeded, was refused, or never ran."""
        if not ticket.keys:
            return
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key in ticket.keys:
                    pipe.decr(key)
                    # A window that ended meanwhile: keep the key expiring, never immortal.
                    pipe.expire(key, self._window + 1)
                await pipe.execute()
        except RedisError as exc:
            self._failed("give_back", exc)
