"""HTTP(S): a GET answers with a status below 400 (redirects are not followed: a 3xx from a
health endpoint still proves the server is up)."""

from __future__ import annotations

import httpx


class HttpStatusError(RuntimeError):
    pass


async def check(address: str) -> None:
    # No pooled client on purpose: a check must open a fresh connection, or a dead server
    # behind a kept-alive socket could look alive until the socket times out.
    async with httpx.AsyncClient(follow_redirects=False) as client:
        response = await client.get(address)
    if response.status_code >= 400:
        raise HttpStatusError(f"GET {address} answered HTTP {response.status_code}")
