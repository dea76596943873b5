"""Redis: PING answered with PONG.

A bare ``host:port`` (no credentials declared) counts an authentication demand as healthy,
like ``pg_isready``: the server is up and deciding; credentials are the app's business. A
``redis://`` URL (or a Secret holding one) is used as given, credentials included.
"""

from __future__ import annotations

from redis import asyncio as aioredis
from redis.exceptions import AuthenticationError, ResponseError

from orderflow_operator.checks.address import is_url, parse


async def check(address: str) -> None:
    if is_url(address):
        url, anonymous = address, False
    else:
        endpoint = parse(address)
        url, anonymous = f"redis://{endpoint.host}:{endpoint.port}/0", True
    client = aioredis.Redis.from_url(url, single_connection_client=True)
    try:
        await client.ping()
    except (AuthenticationError, ResponseError) as exc:
        if not (anonymous and _auth_demanded(exc)):
            raise
    finally:
        await client.aclose()


def _auth_demanded(exc: Exception) -> bool:
    return isinstance(exc, AuthenticationError) or str(exc).startswith("NOAUTH")
