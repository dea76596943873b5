"""TCP: something accepts connections on host:port (the weakest check; prefer a typed one)."""

from __future__ import annotations

import asyncio

from orderflow_operator.checks.address import parse


async def check(address: str) -> None:
    endpoint = parse(address)
    _, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
    writer.close()
    await writer.wait_closed()
