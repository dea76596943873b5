"""libpq connection parameters for SQLAlchemy's asyncpg dialect.

SQLAlchemy passes a URL's query parameters to ``asyncpg.connect`` as keywords, and asyncpg
takes none of libpq's (``connect() got an unexpected keyword argument 'sslmode'``). This hook
runs before every connection of every engine in the process (the application's, Alembic's,
a one-off in a tool) and hands them over the way asyncpg understands them:

- ``sslmode``, ``sslrootcert``, ``sslcert``, ``sslkey`` go into a query-only DSN, which asyncpg
  parses with libpq's own rules (verify-ca checks the chain, verify-full the host name too,
  ``require`` with a root certificate verifies it, ``prefer`` falls back to plain text);
  host, port, user and database still come from SQLAlchemy's keywords, which take precedence;
- ``application_name`` becomes a server setting;
- ``connect_timeout`` becomes asyncpg's ``timeout`` unless one was given explicitly.

Which parameters are allowed at all is decided once, at startup (settings.parse_database_url).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sqlalchemy import event
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from orderflow.settings import SSL_PARAMETERS


def translate(cparams: dict[str, Any]) -> None:
    """Rewrite SQLAlchemy's connect keywords in place into what ``asyncpg.connect`` takes."""
    ssl = {name: cparams.pop(name) for name in SSL_PARAMETERS if name in cparams}
    if ssl and "dsn" not in cparams:
        cparams["dsn"] = "postgresql://?" + urlencode(ssl)
    if "application_name" in cparams:
        server_settings = dict(cparams.get("server_settings") or {})
        server_settings["application_name"] = cparams.pop("application_name")
        cparams["server_settings"] = server_settings
    if "connect_timeout" in cparams:
        seconds = int(cparams.pop("connect_timeout"))
        if seconds and "timeout" not in cparams:
            cparams["timeout"] = float(max(seconds, 2))


def _on_connect(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
    translate(cparams)


def install() -> None:
    """Register the hook on the dialect class: every engine, present and future, uses it."""
    if not event.contains(PGDialect_asyncpg, "do_connect", _on_connect):
        event.listen(PGDialect_asyncpg, "do_connect", _on_connect)
