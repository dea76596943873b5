"""Configuration parsing and the refusal to run production-like with a forgeable secret."""

from __future__ import annotations

import pytest

from orderflow.settings import (
    DEV_JWT_SECRET,
    Settings,
    SettingsError,
    normalize_database_url,
    normalize_redis_url,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("168h", 604800), ("1h30m", 5400), ("500ms", 0.5), ("15", 15), ("2d", 172800)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "10x", "1h 30m", "-5s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(SettingsError, match="duration"):
        parse_duration(text)


def test_redis_url_accepts_host_port_and_urls() -> None:
    assert normalize_redis_url("redis:6379") == "redis://redis:6379/0"
    assert normalize_redis_url("rediss://u:p@h:1/2") == "rediss://u:p@h:1/2"
    with pytest.raises(SettingsError, match="host:port"):
        normalize_redis_url("redis")
    with pytest.raises(SettingsError, match="scheme"):
        normalize_redis_url("http://x:1")
    # A password-bearing URL is accepted as is; a malformed one is refused without echoing it.
    assert normalize_redis_url("redis://:s3cret@h:6379/0") == "redis://:s3cret@h:6379/0"
    with pytest.raises(SettingsError) as refused:
        normalize_redis_url(":s3cret@h")
    assert "s3cret" not in str(refused.value)


def test_database_url_always_uses_asyncpg() -> None:
    assert normalize_database_url("postgres://a@b/c") == "postgresql+asyncpg://a@b/c"
    assert normalize_database_url("postgresql://a@b/c") == "postgresql+asyncpg://a@b/c"
    with pytest.raises(SettingsError):
        normalize_database_url("mysql://a@b/c")


def test_defaults_work_in_development(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JWT_SECRET", "PORT", "REDIS_URL", "DATABASE_URL", "EMAIL_SINK_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT", "development")  # an explicit opt-in (make dev sets it)
    settings = Settings.from_env()
    assert settings.app.port == 8080
    assert settings.auth.jwt_secret == DEV_JWT_SECRET
    assert settings.auth.jwt_expires_in_seconds == 168 * 3600
    assert settings.email.sink_url == ""  # no provider, and no public sink, unless asked


def test_the_builtin_sink_is_the_default_provider_only_when_enabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EMAIL_SINK_URL", raising=False)
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("PORT", "8181")
    monkeypatch.setenv("EMAIL_SINK_ENABLED", "true")
    settings = Settings.from_env()
    assert settings.app.email_sink_enabled
    assert settings.email.sink_url == "http://127.0.0.1:8181/_sink/email"


def test_the_default_environment_is_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.delenv("JWT_SECRET", raising=False)
    with pytest.raises(SettingsError, match="JWT_SECRET is missing and ENVIRONMENT='production'"):
        Settings.from_env()
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    assert Settings.from_env().app.environment == "production"


@pytest.mark.parametrize("secret", [None, DEV_JWT_SECRET, "short"])
def test_production_refuses_missing_default_or_weak_secret(
    monkeypatch: pytest.MonkeyPatch, secret: str | None
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    if secret is None:
        monkeypatch.delenv("JWT_SECRET", raising=False)
    else:
        monkeypatch.setenv("JWT_SECRET", secret)
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        Settings.from_env()


def test_production_accepts_a_strong_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    assert Settings.from_env().auth.jwt_secret == "x" * 40


def test_rates_must_be_probabilities(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "x" * 40)  # so the rate, not the secret, is refused
    monkeypatch.setenv("PAYMENT_FAILURE_RATE", "1.5")
    with pytest.raises(SettingsError, match="PAYMENT_FAILURE_RATE"):
        Settings.from_env()
    monkeypatch.setenv("PAYMENT_FAILURE_RATE", "lots")
    with pytest.raises(SettingsError, match="number"):
        Settings.from_env()


def test_password_hashing_needs_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    monkeypatch.setenv("PASSWORD_HASH_THREADS", "3")
    assert Settings.from_env().auth.password_hash_threads == 3
    monkeypatch.setenv("PASSWORD_HASH_THREADS", "0")
    with pytest.raises(SettingsError, match="PASSWORD_HASH_THREADS"):
        Settings.from_env()
