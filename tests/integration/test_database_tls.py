"""DATABASE_URL as libpq writes it (sslmode, sslrootcert, sslcert/sslkey, application_name,
connect_timeout), against a real PostgreSQL that refuses every connection without TLS, with
certificates made by the test."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from orderflow.db.engine import make_engine
from orderflow.devservices import Postgres, free_port
from orderflow.settings import DatabaseSettings, parse_database_url
from tests.support.processes import ServiceProcess, run_cli, wait_http_ok
from tests.support.tls import CERT_USER, Pki, make_pki, require_tls


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_postgres(pki: Pki) -> Iterator[Postgres]:
    server = Postgres().start()

    async def add_cert_user() -> None:
        conn = await asyncpg.connect(server.url)
        try:
            await conn.execute(f"CREATE ROLE {CERT_USER} LOGIN")
        finally:
            await conn.close()

    asyncio.run(add_cert_user())
    require_tls(server, pki)
    try:
        yield server
    finally:
        server.stop()


def url_of(server: Postgres, query: str, *, host: str = "localhost", user: str = "") -> str:
    login = user or f"{server.user}:{server.password}"
    return f"postgres://{login}@{host}:{server.port}/{server.database}?{query}"


def connect_report(url: str) -> tuple[bool, str, str]:
    """Through the application's engine: (TLS in use, current user, application name)."""
    database_url, timeout = parse_database_url(url)
    engine = make_engine(DatabaseSettings(url=database_url, connect_timeout_seconds=timeout))

    async def report() -> tuple[bool, str, str]:
        try:
            async with engine.connect() as conn:
                row = (
                    await conn.execute(
                        text(
                            "SELECT s.ssl, current_user, a.application_name"
                            " FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)"
                            " WHERE pid = pg_backend_pid()"
                        )
                    )
                ).one()
                return bool(row[0]), str(row[1]), str(row[2])
        finally:
            await engine.dispose()

    return asyncio.run(report())


def test_verify_full_checks_the_chain_and_the_host_name(tls_postgres: Postgres, pki: Pki) -> None:
    query = f"sslmode=verify-full&sslrootcert={pki.ca}&application_name=of-tls-test"
    assert connect_report(url_of(tls_postgres, query)) == (True, "orderflow", "of-tls-test")
    # The certificate names localhost, not the address: verify-full refuses it...
    with pytest.raises(ssl.SSLCertVerificationError):
        connect_report(url_of(tls_postgres, query, host="127.0.0.1"))
    # ...while verify-ca, which checks only the chain, accepts it.
    by_address = url_of(tls_postgres, f"sslmode=verify-ca&sslrootcert={pki.ca}", host="127.0.0.1")
    assert connect_report(by_address)[0] is True


def test_a_certificate_from_another_ca_is_refused(tls_postgres: Postgres, pki: Pki) -> None:
    for mode in ("verify-ca", "verify-full", "require"):  # require + root cert verifies, as libpq
        with pytest.raises(ssl.SSLCertVerificationError):
            connect_report(url_of(tls_postgres, f"sslmode={mode}&sslrootcert={pki.other_ca}"))


def test_require_and_prefer_encrypt_and_disable_does_not(tls_postgres: Postgres) -> None:
    assert connect_report(url_of(tls_postgres, "sslmode=require"))[0] is True
    assert connect_report(url_of(tls_postgres, "sslmode=prefer&connect_timeout=10"))[0] is True
    # The server refuses unencrypted connections: sslmode=disable really sends none.
    with pytest.raises(asyncpg.exceptions.InvalidAuthorizationSpecificationError, match="no en"):
        connect_report(url_of(tls_postgres, "sslmode=disable"))


def test_client_certificate_login(tls_postgres: Postgres, pki: Pki) -> None:
    query = (
        f"sslmode=verify-full&sslrootcert={pki.ca}&sslcert={pki.client_cert}"
        f"&sslkey={pki.client_key}"
    )
    assert connect_report(url_of(tls_postgres, query, user=CERT_USER))[:2] == (True, CERT_USER)


def test_the_kept_url_is_one_asyncpg_connects_with_directly(
    tls_postgres: Postgres, pki: Pki
) -> None:
    """Raw asyncpg (the worker's LISTEN connection) gets the same URL minus the driver name:
    the TLS parameters stay in it and mean the same there."""
    query = f"sslmode=verify-full&sslrootcert={pki.ca}&application_name=x&connect_timeout=5"
    database_url, timeout = parse_database_url(url_of(tls_postgres, query))
    assert timeout == 5.0 and "connect_timeout" not in database_url

    async def direct() -> bool:
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql", 1))
        try:
            return bool(
                await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            )
        finally:
            await conn.close()

    assert asyncio.run(direct()) is True


def test_migrate_and_serve_over_verified_tls(
    tls_postgres: Postgres, pki: Pki, base_env: dict[str, str], logs_dir: Path
) -> None:
    query = (
        f"sslmode=verify-full&sslrootcert={pki.ca}&application_name=orderflow-tls"
        "&connect_timeout=10"
    )
    env = {**base_env, "DATABASE_URL": url_of(tls_postgres, query), "PORT": str(free_port())}
    migrated = run_cli(env, "migrate", "up")
    assert migrated.returncode == 0, migrated.stderr[-2000:]

    async def api_connections() -> list[bool]:
        conn = await asyncpg.connect(
            url_of(tls_postgres, f"sslmode=verify-full&sslrootcert={pki.ca}")
        )
        try:
            rows = await conn.fetch(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)"
                " WHERE a.application_name = 'orderflow-tls'"
            )
            return [bool(r[0]) for r in rows]
        finally:
            await conn.close()

    process = ServiceProcess(["api"], env, logs_dir / f"api-tls-{env['PORT']}.log").start()
    try:
        wait_http_ok(f"http://127.0.0.1:{env['PORT']}/healthz", process)
        response = httpx.get(f"http://127.0.0.1:{env['PORT']}/api/stock", timeout=10)
        assert response.status_code == 200, response.text
        # The API's pooled connections, seen from the server: named as asked, all encrypted.
        connections = asyncio.run(api_connections())
        assert connections and all(connections), connections
    finally:
        process.stop()


def test_unknown_url_parameters_stop_startup_naming_them(base_env: dict[str, str]) -> None:
    env = {
        **base_env,
        "DATABASE_URL": "postgres://u:p@localhost/db?sslmode=require&sslmod=verify-full&x=1",
    }
    result = run_cli(env, "migrate", "up")
    assert result.returncode == 2
    assert "sslmod, x" in result.stderr and "not support" in result.stderr
