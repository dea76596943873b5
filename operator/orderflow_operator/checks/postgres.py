"""PostgreSQL.

- A ``postgresql://`` DSN (typically from a Secret, with credentials): connect and run
  ``SELECT 1`` — the database really serves queries for that user.
- A bare ``host:port``: ``pg_isready`` semantics. The server answering a startup message
  with an authentication decision (even a refusal) means it accepts connections; "the
  database system is starting up / shutting down" or no answer means it does not.
"""

from __future__ import annotations

import asyncpg

from orderflow_operator.checks.address import is_url, parse

PROBE_USER = "orderflow_operator_probe"

# Raised when the server processed our startup packet and decided about the user: it is up.
_ANSWERED = (
    asyncpg.InvalidAuthorizationSpecificationError,  # no pg_hba entry / role does not exist
    asyncpg.InvalidPasswordError,
    asyncpg.InvalidCatalogNameError,  # database does not exist
)


async def check(address: str) -> None:
    if is_url(address):
        conn = await asyncpg.connect(dsn=address)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()
        return
    endpoint = parse(address)
    try:
        # A password is given so that asyncpg does not fail locally before asking the server.
        conn = await asyncpg.connect(
            host=endpoint.host,
            port=endpoint.port,
            user=PROBE_USER,
            password="-",  # noqa: S106 - deliberately wrong: only the server's answer matters
            database="postgres",
            ssl=False,
        )
    except _ANSWERED:
        return
    await conn.close()
