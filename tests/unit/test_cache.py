"""The cache never fails a request: with Redis unreachable it reports misses and cools down."""

from __future__ import annotations

from redis.asyncio import Redis

from orderflow.cache import Cache
from orderflow.devservices import Redis as RedisServer
from orderflow.devservices import free_port


async def test_unreachable_redis_is_a_miss_not_an_error() -> None:
    client = Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    cache = Cache(client, ttl_seconds=5, cooldown_seconds=30)
    assert await cache.get("article:x", dict) is None
    assert not cache.available  # the next reads skip Redis instead of timing out again
    assert await cache.get("article:x", dict) is None
    await cache.set("article:x", {"a": 1})
    await cache.invalidate("article:x")
    await client.aclose()


async def test_round_trip_and_invalidation_on_real_redis() -> None:
    server = RedisServer().start()
    client = Redis.from_url(server.url)
    try:
        cache = Cache(client, ttl_seconds=5)
        await cache.set("stock:a", {"n": 1})
        assert await cache.get("stock:a", dict) == {"n": 1}
        assert 0 < await client.ttl("stock:a") <= 5
        await cache.invalidate("stock:a")
        assert await cache.get("stock:a", dict) is None
    finally:
        await client.aclose()
        server.stop()
