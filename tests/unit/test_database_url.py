"""libpq-style DATABASE_URL parameters: which are accepted, and what asyncpg receives."""

from __future__ import annotations

from typing import Any

import pytest

from orderflow.db.engine import connect_args
from orderflow.db.libpq import translate
from orderflow.settings import DatabaseSettings, Settings, SettingsError, parse_database_url


def test_every_spelling_gets_the_asyncpg_driver_and_keeps_tls_parameters() -> None:
    for scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        url, timeout = parse_database_url(
            f"{scheme}://u:p@db:5432/app?sslmode=verify-full&sslrootcert=/ca.pem"
        )
        assert (
            url == "postgresql+asyncpg://u:p@db:5432/app?sslmode=verify-full&sslrootcert=%2Fca.pem"
        )
        assert timeout is None


def test_connect_timeout_is_lifted_out_with_libpq_rules() -> None:
    url, timeout = parse_database_url("postgres://u@db/app?connect_timeout=7&application_name=x")
    assert (url, timeout) == ("postgresql+asyncpg://u@db/app?application_name=x", 7.0)
    assert parse_database_url("postgres://u@db/app?connect_timeout=1")[1] == 2.0
    assert parse_database_url("postgres://u@db/app?connect_timeout=0") == (
        "postgresql+asyncpg://u@db/app",
        None,
    )
    with pytest.raises(SettingsError, match="whole seconds"):
        parse_database_url("postgres://u@db/app?connect_timeout=soon")


def test_unknown_parameters_are_refused_by_name() -> None:
    with pytest.raises(SettingsError, match=r"not support: sslmod, target_session_attrs \("):
        parse_database_url("postgres://u@db/app?sslmod=require&target_session_attrs=any")
    with pytest.raises(SettingsError, match="sslmode must be one of"):
        parse_database_url("postgres://u@db/app?sslmode=on")
    with pytest.raises(SettingsError, match="postgresql://"):
        parse_database_url("mysql://u@db/app")


def test_settings_read_the_parameters_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db/app?sslmode=require&connect_timeout=4")
    database = Settings.from_env().database
    assert database.url == "postgresql+asyncpg://u@db/app?sslmode=require"
    assert database.connect_timeout_seconds == 4.0
    assert connect_args(database)["timeout"] == 4.0


def test_translate_hands_libpq_parameters_to_asyncpg() -> None:
    """What SQLAlchemy would pass (URL query parameters as keywords) becomes asyncpg's
    vocabulary: TLS parameters in a DSN, the name a server setting, the timeout ``timeout``."""
    cparams: dict[str, Any] = {
        "host": "db",
        "user": "u",
        "sslmode": "verify-ca",
        "sslrootcert": "/ca dir/ca.pem",
        "sslcert": "/c.pem",
        "sslkey": "/c.key",
        "application_name": "mine",
        "connect_timeout": "9",
        **connect_args(DatabaseSettings()),
    }
    translate(cparams)
    assert cparams == {
        "host": "db",
        "user": "u",
        "dsn": "postgresql://?sslmode=verify-ca&sslrootcert=%2Fca+dir%2Fca.pem"
        "&sslcert=%2Fc.pem&sslkey=%2Fc.key",
        "server_settings": {"application_name": "mine"},
        "timeout": 9.0,
    }


def test_translate_leaves_plain_parameters_and_an_explicit_timeout_alone() -> None:
    cparams: dict[str, Any] = {"host": "db", "timeout": 3.0, "connect_timeout": "9"}
    translate(cparams)
    assert cparams == {"host": "db", "timeout": 3.0}
    plain: dict[str, Any] = {"host": "db", "port": 5432}
    translate(plain)
    assert plain == {"host": "db", "port": 5432}
