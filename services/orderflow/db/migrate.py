"""Alembic driven from code: no alembic.ini to ship, the URL comes from settings.

How the schema is moved in a cluster (charts/orderflow/README.md, "Migrations"): every API pod
runs ``orderflow migrate up --wait-seconds N --seed`` as an init container. That is safe
because:

- concurrent runs serialise on a PostgreSQL advisory lock taken inside the migration
  transaction (migrations/env.py): the second replica finds the schema at head and does nothing;
- a database that is not reachable yet (the bundled PostgreSQL still starting on a first
  install) is waited for instead of failing the pod;
- a database already *ahead* of this build (``helm rollback`` to an older image after an
  upgrade migrated) is left alone: migrations are expand/contract, so the older code runs on
  the newer schema, and readiness (orderflow/health.py) accepts it.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant shared by every migrator of this schema; "orderflw" in ASCII.
ADVISORY_LOCK_KEY = 0x6F7264657266_6C77

log = structlog.get_logger(__name__)


def alembic_config(database_url: str) -> Config:
    # Alembic is imported by the commands that move the schema, never by a serving process:
    # it (and Mako) cost each one ~7 MiB resident, and readiness needs only the revision ids.
    from alembic.config import Config  # noqa: PLC0415 - not in a serving process

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    # `%` must be escaped for ConfigParser interpolation (passwords may contain it).
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


# Which files in versions/ are revisions: Alembic's own rule (not __init__, not editor locks).
_REVISION_FILE = re.compile(r"(?!\.\#|__init__)(.*\.py)$")
_DECLARATIONS = ("revision", "down_revision")


def _declared(script: Path) -> dict[str, object]:
    """The script's ``revision`` and ``down_revision`` values; nothing else in it is evaluated
    (a migration's other top-level lines are code, e.g. ``orders = sa.table(...)``)."""
    declared: dict[str, object] = {}
    for node in ast.parse(script.read_text(), str(script)).body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in _DECLARATIONS:
                declared[target.id] = ast.literal_eval(value)
    return declared


@functools.cache
def _revisions() -> dict[str, tuple[str, ...]]:
    """Each revision this build ships and the revisions it follows, read from the scripts' own
    ``revision``/``down_revision`` lines (parsed, not imported: no Alembic in a serving process).
    tests/unit/db/test_migrate.py checks the result against Alembic's own reading."""
    graph: dict[str, tuple[str, ...]] = {}
    for script in sorted((MIGRATIONS_DIR / "versions").iterdir()):
        if not _REVISION_FILE.match(script.name):
            continue
        declared = _declared(script)
        revision, down = declared.get("revision"), declared.get("down_revision")
        if not isinstance(revision, str):
            raise RuntimeError(f"{script.name}: no revision identifier")
        if revision in graph:
            raise RuntimeError(f"{script.name}: revision {revision} is declared twice")
        if down is None:
            graph[revision] = ()
        elif isinstance(down, str):
            graph[revision] = (down,)
        elif isinstance(down, tuple | list) and all(isinstance(d, str) for d in down):
            graph[revision] = tuple(down)  # a merge revision
        else:
            raise RuntimeError(f"{script.name}: down_revision {down!r} is not a revision")
    # Alembic also resolves branch labels here; this project uses none, and refusing one is
    # safer than guessing (the unit test compares every revision with Alembic's reading).
    unknown = {parent for parents in graph.values() for parent in parents} - set(graph)
    if unknown:
        raise RuntimeError(f"down_revision names no revision of this build: {sorted(unknown)}")
    return graph


def known_revisions() -> frozenset[str]:
    """Every revision this build ships."""
    return frozenset(_revisions())


@functools.cache
def schema_head() -> str:
    """The newest migration this build knows (the one no other revision follows)."""
    graph = _revisions()
    followed = {parent for parents in graph.values() for parent in parents}
    heads = sorted(set(graph) - followed)
    if len(heads) != 1:
        raise RuntimeError(f"the migrations must have one head, not {heads}")
    return heads[0]


def schema_usable(version: str | None) -> bool:
    """Whether this build can serve on a database at ``version``: at its head, or at a
    revision it does not know (a newer build migrated it; expand/contract keeps it usable).
    A known older revision, or no schema at all, is not usable."""
    if version is None:
        return False
    return version == schema_head() or version not in known_revisions()


async def database_version(database_url: str, *, connect_timeout: float = 5.0) -> str | None:
    """The database's Alembic revision; None when no migration ever ran. Connection errors
    propagate (the caller decides whether to wait)."""
    engine = create_async_engine(database_url, connect_args={"timeout": connect_timeout})
    try:
        async with engine.connect() as conn:
            try:
                version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
                return str(version) if version is not None else None
            except ProgrammingError:  # no alembic_version table yet
                return None
    finally:
        await engine.dispose()


# What a database that is not up yet answers: refused or unreachable, a server still starting
# ("the database system is starting up"), a connection dropped while it restarts. A wrong
# password or database name is not among them: that fails at once.
_STARTING = (
    OSError,
    TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.TooManyConnectionsError,
)


def wait_for_database(database_url: str, wait_seconds: float) -> str | None:
    """Poll until the database answers (returning its revision) or ``wait_seconds`` pass."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return asyncio.run(database_version(database_url))
        except (*_STARTING, DBAPIError) as exc:
            # SQLAlchemy may wrap the driver's error: judge the original.
            cause = exc.orig if isinstance(exc, DBAPIError) else exc
            if not isinstance(cause, _STARTING) or time.monotonic() >= deadline:
                raise
            log.info("waiting for the database", error=type(exc).__name__)
            time.sleep(1.0)


def upgrade(database_url: str, revision: str = "head", *, wait_seconds: float = 0.0) -> None:
    current = wait_for_database(database_url, wait_seconds)
    if revision == "head" and current is not None and current not in known_revisions():
        log.warning(
            "database schema is newer than this build; leaving it as it is",
            database_revision=current,
            build_head=schema_head(),
        )
        return
    from alembic import command  # noqa: PLC0415 - not in a serving process

    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "-1") -> None:
    from alembic import command  # noqa: PLC0415 - not in a serving process

    command.downgrade(alembic_config(database_url), revision)


def current(database_url: str) -> None:
    from alembic import command  # noqa: PLC0415 - not in a serving process

    command.current(alembic_config(database_url), verbose=False)


def create(database_url: str, message: str) -> None:
    from alembic import command  # noqa: PLC0415 - not in a serving process

    command.revision(alembic_config(database_url), message=message, autogenerate=True)
