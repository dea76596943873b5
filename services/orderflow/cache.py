"""Cache-aside over Redis that never fails a request.

Reads fall back to the database whenever Redis misbehaves; after a failure the cache is skipped
for a short cool-down so an outage costs one timeout, not one per request.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TypeVar

import msgspec
import structlog
from redis.exceptions import RedisError

from orderflow.domain.telemetry import meter
from orderflow.telemetry.tally import tally_counter

if TYPE_CHECKING:
    from redis.asyncio import Redis

T = TypeVar("T")

log = structlog.get_logger(__name__)
# Tallies, not SDK counters: a cached read is the hottest path there is (see
# orderflow.telemetry.tally).
_hits = tally_counter(meter, "cache.hits", unit="{lookup}", description="Cache lookups served")
_misses = tally_counter(
    meter, "cache.misses", unit="{lookup}", description="Cache lookups that went to the database"
)
_UNAVAILABLE = ("cache.reason", "unavailable")
_ABSENT = ("cache.reason", "absent")


class Cache:
    def __init__(self, client: Redis, ttl_seconds: int, cooldown_seconds: float = 2.0) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._cooldown = cooldown_seconds
        self._skip_until = 0.0

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._skip_until

    def _failed(self, operation: str, exc: Exception) -> None:
        self._skip_until = time.monotonic() + self._cooldown
        log.warning("cache unavailable", operation=operation, error=str(exc))

    async def get(self, key: str, kind: type[T]) -> T | None:
        namespace = ("cache.namespace", key.split(":", 1)[0])
        if not self.available:
            _misses.add((namespace, _UNAVAILABLE))
            return None
        try:
            raw = await self._client.get(key)
        except RedisError as exc:
            self._failed("get", exc)
            _misses.add((namespace, _UNAVAILABLE))
            return None
        if raw is None:
            _misses.add((namespace, _ABSENT))
            return None
        _hits.add((namespace,))
        return msgspec.json.decode(raw, type=kind)

    async def set(self, key: str, value: object) -> None:
        if not self.available:
            return
        try:
            await self._client.set(key, msgspec.json.encode(value), ex=self._ttl)
        except RedisError as exc:
            self._failed("set", exc)

    async def invalidate(self, *keys: str) -> None:
        """Drop keys after a write. Attempted even during a cool-down: a stale entry is worse
        than a slow write."""
        if not keys:
            return
        try:
            await self._client.delete(*keys)
        except RedisError as exc:
            self._failed("delete", exc)
