"""Typed settings, read once from the environment.

Each group is a frozen dataclass whose field docstrings are the documentation of the matching
environment variable (the README's configuration table is generated from the same names).
Defaults work on a developer machine; outside ``development`` the insecure defaults are refused.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"  # noqa: S105 - refused outside development
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


class SettingsError(ValueError):
    """Raised when the environment holds a value the service must not start with."""


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration: ``168h``, ``1h30m``, ``500ms``; a bare number is seconds."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise SettingsError(f"not a duration: {text!r} (use e.g. 168h, 30m, 15s)")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)


def normalize_redis_url(value: str) -> str:
    """Accept ``host:port`` as well as ``redis://``/``rediss://`` URLs; return a URL."""
    value = value.strip()
    if "://" in value:
        scheme = urlsplit(value).scheme
        if scheme not in {"redis", "rediss", "unix"}:
            raise SettingsError(f"REDIS_URL scheme must be redis, rediss or unix, not {scheme!r}")
        return value
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise SettingsError(f"REDIS_URL must be host:port or a redis:// URL, not {value!r}")
    return f"redis://{host}:{port}/0"


def normalize_database_url(value: str) -> str:
    """Use the asyncpg driver whatever PostgreSQL URL spelling was given."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if value.startswith(prefix):
            return "postgresql+asyncpg://" + value[len(prefix) :]
    raise SettingsError("DATABASE_URL must be a postgresql:// URL")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from exc


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, not {raw!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


@dataclass(frozen=True)
class AppSettings:
    port: int = 8080
    """``PORT``: TCP port the API listens on."""
    host: str = "0.0.0.0"  # noqa: S104 - a container must listen on all interfaces
    """``HOST``: address the API binds."""
    environment: str = "development"
    """``ENVIRONMENT``: ``development`` relaxes secret checks; anything else is production-like."""
    max_body_bytes: int = 1_048_576
    """``MAX_BODY_BYTES``: larger request bodies get 413."""
    cache_ttl_seconds: int = 60
    """``CACHE_TTL_SECONDS``: upper bound on how long a cached read lives (writes invalidate)."""

    @property
    def is_development(self) -> bool:
        return self.environment == "development"


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "postgresql+asyncpg://orderflow:orderflow@127.0.0.1:5432/orderflow"
    """``DATABASE_URL``: PostgreSQL URL (any ``postgresql://`` spelling; asyncpg is used)."""
    pool_size: int = 20
    """``DATABASE_POOL_SIZE``: connections kept per process."""
    max_overflow: int = 0
    """``DATABASE_MAX_OVERFLOW``: extra connections opened (and closed) under bursts; 0 keeps
    connection set-up off the request path."""


@dataclass(frozen=True)
class RedisSettings:
    url: str = "redis://127.0.0.1:6379/0"
    """``REDIS_URL``: ``host:port`` or a ``redis://`` URL; used for the cache and the job broker."""


@dataclass(frozen=True)
class AuthSettings:
    jwt_secret: str = DEV_JWT_SECRET
    """``JWT_SECRET``: HS256 signing key. Required (and not the default) outside development."""
    jwt_expires_in_seconds: float = 168 * 3600
    """``JWT_EXPIRES_IN``: token lifetime as a duration (``168h``)."""


@dataclass(frozen=True)
class WorkerSettings:
    threads: int = 4
    """``WORKER_THREADS``: concurrent messages per worker process (scale with replicas)."""
    max_retries: int = 5
    """``WORKER_MAX_RETRIES``: attempts before a message is dead-lettered."""
    min_backoff_ms: int = 500
    """``WORKER_MIN_BACKOFF_MS``: first retry delay; doubles per attempt."""
    max_backoff_ms: int = 30_000
    """``WORKER_MAX_BACKOFF_MS``: ceiling of the retry delay."""
    outbox_poll_seconds: float = 1.0
    """``OUTBOX_POLL_SECONDS``: relay fallback poll interval (NOTIFY wakes it sooner)."""
    resume_after_seconds: float = 30.0
    """``SAGA_RESUME_AFTER_SECONDS``: an order pending/processing this long with nothing queued
    for it is re-queued (its worker died)."""
    payment_failure_rate: float = 0.0
    """``PAYMENT_FAILURE_RATE``: share of simulated payments that are declined (0..1)."""
    payment_latency_ms: int = 0
    """``PAYMENT_LATENCY_MS``: simulated payment provider latency per charge."""
    metrics_port: int = 9464
    """``WORKER_METRICS_PORT``: Prometheus scrape port of the worker (0 disables)."""


@dataclass(frozen=True)
class EmailSettings:
    sink_url: str = "http://127.0.0.1:8080/_sink/email"
    """``EMAIL_SINK_URL``: HTTP endpoint that accepts notification emails (default: the API's
    built-in sink, which only logs them)."""
    timeout_seconds: float = 5.0
    """``EMAIL_TIMEOUT_SECONDS``: per-request timeout of the email call."""


@dataclass(frozen=True)
class ChaosSettings:
    latency_ms: int = 0
    """``CHAOS_LATENCY_MS``: delay added to every API request."""
    error_rate: float = 0.0
    """``CHAOS_ERROR_RATE``: share of API requests answered 503 on purpose (0..1)."""


@dataclass(frozen=True)
class Settings:
    app: AppSettings = field(default_factory=AppSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    chaos: ChaosSettings = field(default_factory=ChaosSettings)

    @classmethod
    def from_env(cls) -> Settings:
        app = AppSettings(
            port=_env_int("PORT", 8080),
            host=_env("HOST", AppSettings.host),
            environment=_env("ENVIRONMENT", "development"),
            max_body_bytes=_env_int("MAX_BODY_BYTES", AppSettings.max_body_bytes),
            cache_ttl_seconds=_env_int("CACHE_TTL_SECONDS", AppSettings.cache_ttl_seconds),
        )
        settings = cls(
            app=app,
            database=DatabaseSettings(
                url=normalize_database_url(_env("DATABASE_URL", DatabaseSettings.url)),
                pool_size=_env_int("DATABASE_POOL_SIZE", DatabaseSettings.pool_size),
                max_overflow=_env_int("DATABASE_MAX_OVERFLOW", DatabaseSettings.max_overflow),
            ),
            redis=RedisSettings(url=normalize_redis_url(_env("REDIS_URL", RedisSettings.url))),
            auth=AuthSettings(
                jwt_secret=_env("JWT_SECRET", ""),
                jwt_expires_in_seconds=parse_duration(_env("JWT_EXPIRES_IN", "168h")),
            ),
            worker=WorkerSettings(
                threads=_env_int("WORKER_THREADS", WorkerSettings.threads),
                max_retries=_env_int("WORKER_MAX_RETRIES", WorkerSettings.max_retries),
                min_backoff_ms=_env_int("WORKER_MIN_BACKOFF_MS", WorkerSettings.min_backoff_ms),
                max_backoff_ms=_env_int("WORKER_MAX_BACKOFF_MS", WorkerSettings.max_backoff_ms),
                outbox_poll_seconds=_env_float(
                    "OUTBOX_POLL_SECONDS", WorkerSettings.outbox_poll_seconds
                ),
                resume_after_seconds=_env_float(
                    "SAGA_RESUME_AFTER_SECONDS", WorkerSettings.resume_after_seconds
                ),
                payment_failure_rate=_env_float(
                    "PAYMENT_FAILURE_RATE", WorkerSettings.payment_failure_rate
                ),
                payment_latency_ms=_env_int("PAYMENT_LATENCY_MS", 0),
                metrics_port=_env_int("WORKER_METRICS_PORT", WorkerSettings.metrics_port),
            ),
            email=EmailSettings(
                sink_url=_env("EMAIL_SINK_URL", f"http://127.0.0.1:{app.port}/_sink/email"),
                timeout_seconds=_env_float("EMAIL_TIMEOUT_SECONDS", EmailSettings.timeout_seconds),
            ),
            chaos=ChaosSettings(
                latency_ms=_env_int("CHAOS_LATENCY_MS", 0),
                error_rate=_env_float("CHAOS_ERROR_RATE", 0.0),
            ),
        )
        return settings.checked()

    def checked(self) -> Settings:
        """Refuse configurations that would be unsafe; fill the development-only JWT secret."""
        secret = self.auth.jwt_secret
        if not secret or secret == DEV_JWT_SECRET:
            if not self.app.is_development:
                raise SettingsError(
                    f"JWT_SECRET is {'missing' if not secret else 'the development default'} "
                    f"and ENVIRONMENT={self.app.environment!r}: tokens could be forged. "
                    "Set JWT_SECRET to a long random value (e.g. `openssl rand -hex 32`)."
                )
            object.__setattr__(self.auth, "jwt_secret", DEV_JWT_SECRET)
        elif not self.app.is_development and len(secret) < 32:
            raise SettingsError("JWT_SECRET must be at least 32 characters outside development")
        for name, rate in (
            ("PAYMENT_FAILURE_RATE", self.worker.payment_failure_rate),
            ("CHAOS_ERROR_RATE", self.chaos.error_rate),
        ):
            if not 0.0 <= rate <= 1.0:
                raise SettingsError(f"{name} must be between 0 and 1, not {rate}")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once; tests build ``Settings`` directly)."""
    return Settings.from_env()
