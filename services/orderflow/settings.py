"""Typed settings, read once from the environment.

Each group is a frozen dataclass. Every field read from the environment is declared once, with
``env(NAME, default)`` and a docstring that is the variable's documentation: the README's
configuration table is generated from these declarations (``orderflow settings --markdown``),
and tests check the README and the chart's environment against them. Defaults work on a
developer machine; outside ``development`` the insecure defaults are refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from typing import Any, TypeVar, get_type_hints
from urllib.parse import parse_qsl, urlencode, urlsplit

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"  # noqa: S105 - refused outside development
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
T = TypeVar("T")
G = TypeVar("G")


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
        # Whatever precedes an "@" may be a password: never echo it into a log.
        shown = value.rpartition("@")[2] if "@" in value else value
        raise SettingsError(f"REDIS_URL must be host:port or a redis:// URL, not {shown!r}")
    return f"redis://{host}:{port}/0"


# libpq's connection parameters that DATABASE_URL may carry (as every libpq tool writes them).
# TLS ones and application_name stay in the URL: asyncpg's DSN parser applies libpq's rules to
# them, and db/libpq.py hands them over when SQLAlchemy connects. connect_timeout is not an
# asyncpg DSN parameter, so it is lifted out of the URL into DatabaseSettings.
SSL_PARAMETERS = ("sslmode", "sslrootcert", "sslcert", "sslkey")
URL_PARAMETERS = (*SSL_PARAMETERS, "application_name", "connect_timeout")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def parse_database_url(value: str) -> tuple[str, float | None]:
    """The asyncpg-driver URL and the connect timeout (seconds) of a libpq-style URL.

    Any ``postgres://``/``postgresql://`` spelling is accepted; a parameter orderflow would
    silently ignore or pass on wrongly is refused here, at startup, by name."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if value.startswith(prefix):
            rest = value[len(prefix) :]
            break
    else:
        raise SettingsError("DATABASE_URL must be a postgresql:// URL")
    base, _, query = rest.partition("?")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise SettingsError(f"DATABASE_URL has a malformed query string: {exc}") from exc
    unknown = sorted({name for name, _ in pairs} - set(URL_PARAMETERS))
    if unknown:
        raise SettingsError(
            f"DATABASE_URL has parameters orderflow does not support: {', '.join(unknown)} "
            f"(supported: {', '.join(URL_PARAMETERS)})"
        )
    params = dict(pairs)
    mode = params.get("sslmode")
    if mode is not None and mode not in SSL_MODES:
        raise SettingsError(
            f"DATABASE_URL sslmode must be one of {', '.join(SSL_MODES)}, not {mode!r}"
        )
    timeout: float | None = None
    if "connect_timeout" in params:
        raw = params.pop("connect_timeout")
        if not raw.isdigit():
            raise SettingsError(f"DATABASE_URL connect_timeout must be whole seconds, not {raw!r}")
        # libpq: 0 waits forever (here: the driver's default), and less than 2 counts as 2.
        timeout = float(max(int(raw), 2)) if int(raw) else None
    url = "postgresql+asyncpg://" + base
    if params:
        url += "?" + urlencode(params)
    return url, timeout


def normalize_database_url(value: str) -> str:
    """Use the asyncpg driver whatever PostgreSQL URL spelling was given (see
    ``parse_database_url``)."""
    return parse_database_url(value)[0]


@dataclass(frozen=True)
class Var:
    """How one environment variable fills one settings field: the single place its name lives.

    The default is the field's own default; the meaning is the field's docstring. The README's
    configuration table is generated from these (``orderflow settings --markdown``; checked by
    tests/unit/test_settings_docs.py) and the chart's environment is checked against them
    (tests/charts/test_chart_settings.py)."""

    name: str
    parse: Callable[[str], Any] | None = None
    """Turns the raw text into the field's value; None: by the field's type."""
    shown: str | None = None
    """The default as the README shows it, when the field's value is not what a user types."""
    empty_is_value: bool = False
    """An empty value is a value (``EMAIL_SINK_URL=`` means "none"), not "use the default"."""


def env(
    name: str,
    default: T,
    *,
    parse: Callable[[str], Any] | None = None,
    shown: str | None = None,
    empty_is_value: bool = False,
) -> T:
    """Declare a field read from the environment variable ``name``."""
    var = Var(name, parse, shown, empty_is_value)
    return field(default=default, metadata={"env": var})


def _parse_bool(raw: str) -> bool:
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


_TYPE_PARSERS: dict[Any, tuple[Callable[[str], Any], str]] = {
    int: (int, "an integer"),
    float: (float, "a number"),
    bool: (_parse_bool, "true or false"),
    str: (str, "text"),
}


def _read(group: type[G], environ: Mapping[str, str]) -> G:
    """One settings group from ``environ``: every declared variable that is set, parsed."""
    hints = get_type_hints(group)
    values: dict[str, Any] = {}
    for f in fields(group):  # type: ignore[arg-type]
        var: Var | None = f.metadata.get("env")
        if var is None:
            continue
        raw = environ.get(var.name)
        if raw is None or (raw == "" and not var.empty_is_value):
            continue
        parse, expected = (var.parse, "") if var.parse else _TYPE_PARSERS[hints[f.name]]
        try:
            values[f.name] = parse(raw)
        except SettingsError:
            raise
        except ValueError as exc:
            raise SettingsError(f"{var.name} must be {expected or 'valid'}, not {raw!r}") from exc
    return group(**values)


def declared(group: type[Any]) -> list[tuple[str, Var, Any]]:
    """(field, variable, default) of each variable a settings group declares, in order."""
    return [(f.name, f.metadata["env"], f.default) for f in fields(group) if "env" in f.metadata]


@dataclass(frozen=True)
class AppSettings:
    port: int = env("PORT", 8080)
    """TCP port the API listens on."""
    host: str = env("HOST", "0.0.0.0")  # noqa: S104 - a container must listen on all interfaces
    """Address the API binds."""
    # Production unless told otherwise: an image started without configuration must not sign
    # tokens with the public development secret.
    environment: str = env("ENVIRONMENT", "production")
    """``development`` relaxes secret checks (``make dev`` and the dev chart values set it);
    anything else, the default included, is production-like."""
    max_body_bytes: int = env("MAX_BODY_BYTES", 1_048_576)
    """Larger request bodies get 413."""
    cache_ttl_seconds: int = env("CACHE_TTL_SECONDS", 60)
    """Upper bound on how long a cached read lives (writes invalidate)."""
    metrics_port: int = env("METRICS_PORT", 0)
    """When set, the API serves ``/metrics`` (text, or OpenMetrics with exemplars) on this port
    only, bound to ``HOST``, and its public port answers 404 there: set it in production, and
    expose the port to scrapers only. 0 keeps ``/metrics`` on the public port (a developer
    machine)."""
    email_sink_enabled: bool = env("EMAIL_SINK_ENABLED", False)
    """Serve the built-in stand-in email provider (``POST /_sink/email``, which only logs) on the
    public port. ``make dev`` and the chart's ``app.email.builtinSink`` (on in
    ``values-dev.yaml``) turn it on; production names a real provider in ``EMAIL_SINK_URL``."""

    @property
    def is_development(self) -> bool:
        return self.environment == "development"


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = env(
        "DATABASE_URL",
        "postgresql+asyncpg://orderflow:orderflow@127.0.0.1:5432/orderflow",
        parse=normalize_database_url,
        shown="``postgresql://orderflow:orderflow@127.0.0.1:5432/orderflow``",
    )
    """PostgreSQL URL as libpq writes it (``postgres://``, ``postgresql://``; asyncpg is used),
    with the parameters ``sslmode`` (``disable``, ``allow``, ``prefer``, ``require``,
    ``verify-ca``, ``verify-full``), ``sslrootcert``, ``sslcert``, ``sslkey``,
    ``application_name``, ``connect_timeout``. They mean what they mean to libpq (``require``
    with a ``sslrootcert`` verifies the chain; ``verify-full`` also the host name). Any other
    parameter stops startup with an error naming it."""
    pool_size: int = env("DATABASE_POOL_SIZE", 20)
    """Connections kept per process."""
    max_overflow: int = env("DATABASE_MAX_OVERFLOW", 0)
    """Extra connections opened (and closed) under bursts; 0 keeps connection set-up off the
    request path."""
    pool_timeout_seconds: float = env("DATABASE_POOL_TIMEOUT", 10.0)
    """Seconds a request waits for a free connection before it is answered 503 with
    ``Retry-After``."""
    connect_timeout_seconds: float | None = None
    """From ``DATABASE_URL``'s ``connect_timeout`` parameter; None: the driver's default."""


@dataclass(frozen=True)
class RedisSettings:
    url: str = env("REDIS_URL", "redis://127.0.0.1:6379/0", parse=normalize_redis_url)
    """``host:port`` or a ``redis://`` URL (with a password: ``redis://:PASSWORD@host:6379/0``);
    used for the cache and the job broker."""


@dataclass(frozen=True)
class AuthSettings:
    jwt_secret: str = env("JWT_SECRET", "", shown="none (development: a built-in dev-only value)")
    """HS256 signing key. Required (at least 32 characters, not the development value) outside
    development."""
    jwt_expires_in_seconds: float = env(
        "JWT_EXPIRES_IN", 168 * 3600.0, parse=parse_duration, shown="``168h``"
    )
    """Token lifetime as a duration (``168h``, ``30m``)."""
    password_hash_threads: int = env("PASSWORD_HASH_THREADS", 1)
    """Passwords hashed or verified at once (registration, login); more wait their turn. Each
    keeps a core busy and keeps argon2's 19 MiB for the life of the process: about the pod's CPU
    limit (the chart's is 1), with 19 MiB times this in its memory limit."""
    login_window_seconds: int = env("LOGIN_THROTTLE_WINDOW_SECONDS", 60)
    """The window failed logins are counted in (in Redis); a throttled client waits at most this
    long (``Retry-After``)."""
    login_max_failures: int = env("LOGIN_MAX_FAILURES", 5)
    """Failed logins per account *and* client address per window, then 429. One attacker locks
    out only themselves."""
    login_max_failures_per_client: int = env("LOGIN_MAX_FAILURES_PER_CLIENT", 20)
    """Failed logins from one client address, all accounts together (password spraying)."""
    login_max_failures_per_account: int = env("LOGIN_MAX_FAILURES_PER_ACCOUNT", 50)
    """Failed logins to one account from all addresses together (distributed guessing); ends
    with the window, so it cannot keep the owner out for long. 0 disables any of the three
    limits."""


@dataclass(frozen=True)
class ReservationSettings:
    ttl_seconds: int = env("RESERVATION_TTL_SECONDS", 900)
    """How long a reservation holds its units unless released: the default and the most a
    client may ask for."""
    max_units_per_user: int = env("RESERVATION_MAX_UNITS_PER_USER", 10)
    """Units one user may hold in reservations at a time."""
    sweep_seconds: float = env("RESERVATION_SWEEP_SECONDS", 5.0)
    """How often each API process returns the units of expired reservations (a reserve of the
    same item returns them at once anyway)."""


@dataclass(frozen=True)
class WorkerSettings:
    threads: int = env("WORKER_THREADS", 4)
    """Concurrent messages per worker process (scale with replicas)."""
    max_retries: int = env("WORKER_MAX_RETRIES", 5)
    """Attempts before a message is dead-lettered."""
    min_backoff_ms: int = env("WORKER_MIN_BACKOFF_MS", 500)
    """First retry delay; doubles per attempt."""
    max_backoff_ms: int = env("WORKER_MAX_BACKOFF_MS", 30_000)
    """Ceiling of the retry delay."""
    outbox_poll_seconds: float = env("OUTBOX_POLL_SECONDS", 1.0)
    """Relay fallback poll interval (NOTIFY wakes it sooner)."""
    resume_after_seconds: float = env("SAGA_RESUME_AFTER_SECONDS", 30.0)
    """An order pending/processing this long with nothing queued for it is re-queued (its worker
    died)."""
    payment_failure_rate: float = env("PAYMENT_FAILURE_RATE", 0.0)
    """Share of simulated payments that are declined (0..1)."""
    payment_latency_ms: int = env("PAYMENT_LATENCY_MS", 0)
    """Simulated payment provider latency per charge."""
    metrics_port: int = env("WORKER_METRICS_PORT", 9464)
    """Prometheus scrape port of the worker (0 disables)."""


@dataclass(frozen=True)
class EmailSettings:
    sink_url: str = env(
        "EMAIL_SINK_URL",
        "",
        empty_is_value=True,
        shown="empty (with ``EMAIL_SINK_ENABLED=true``: ``http://127.0.0.1:$PORT/_sink/email``)",
    )
    """HTTP endpoint of the email provider (JSON ``{to, subject, body}`` with an
    ``Idempotency-Key`` header). Empty: no email is sent; the worker logs each skipped one
    without its recipient. Chart: ``app.email.url`` or ``app.email.existingSecret``."""
    timeout_seconds: float = env("EMAIL_TIMEOUT_SECONDS", 5.0)
    """Per-request timeout of the email call."""


@dataclass(frozen=True)
class ChaosSettings:
    latency_ms: int = env("CHAOS_LATENCY_MS", 0)
    """Delay added to every API request."""
    error_rate: float = env("CHAOS_ERROR_RATE", 0.0)
    """Share of API requests answered 503 on purpose (0..1)."""


@dataclass(frozen=True)
class ProfilingSettings:
    enabled: bool = env("PROFILING_ENABLED", False)
    """Continuous CPU profiling pushed to Pyroscope, each traced request's samples labelled with
    its root span (``span_id``, ``span_name``, ``trace_id``), so Grafana opens the profile of a
    slow span. Off by default; the chart turns it on with its bundled LGTM
    (``profiling.enabled``)."""
    server_address: str = env("PYROSCOPE_SERVER_ADDRESS", "http://127.0.0.1:4040")
    """Pyroscope's HTTP address; profiles are pushed there every 10 seconds (and once more at
    shutdown)."""
    sample_rate: int = env("PYROSCOPE_SAMPLE_RATE", 100)
    """Stack samples per second (Hz) of the profiler thread (1..1000)."""


@dataclass(frozen=True)
class Settings:
    app: AppSettings = field(default_factory=AppSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    reservations: ReservationSettings = field(default_factory=ReservationSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    chaos: ChaosSettings = field(default_factory=ChaosSettings)
    profiling: ProfilingSettings = field(default_factory=ProfilingSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        hints = get_type_hints(cls)
        read = cls(**{f.name: _read(hints[f.name], environ) for f in fields(cls)})
        # connect_timeout is libpq's but not an asyncpg DSN parameter: lifted out of the URL.
        _, connect_timeout = parse_database_url(environ.get("DATABASE_URL") or read.database.url)
        email = read.email
        if "EMAIL_SINK_URL" not in environ and read.app.email_sink_enabled:
            email = replace(email, sink_url=f"http://127.0.0.1:{read.app.port}/_sink/email")
        database = replace(read.database, connect_timeout_seconds=connect_timeout)
        return replace(read, database=database, email=email).checked()

    def checked(self) -> Settings:
        """Refuse configurations that would be unsafe; fill the development-only JWT secret."""
        secret = self.auth.jwt_secret
        if not secret or secret == DEV_JWT_SECRET:
            if not self.app.is_development:
                raise SettingsError(
                    f"JWT_SECRET is {'missing' if not secret else 'the development default'} "
                    f"and ENVIRONMENT={self.app.environment!r}: tokens could be forged. "
                    "Set JWT_SECRET to a long random value (e.g. `openssl rand -hex 32`), "
                    "or ENVIRONMENT=development on a developer machine."
                )
            secret = DEV_JWT_SECRET
        elif not self.app.is_development and len(secret) < 32:
            raise SettingsError("JWT_SECRET must be at least 32 characters outside development")
        for name, rate in (
            ("PAYMENT_FAILURE_RATE", self.worker.payment_failure_rate),
            ("CHAOS_ERROR_RATE", self.chaos.error_rate),
        ):
            if not 0.0 <= rate <= 1.0:
                raise SettingsError(f"{name} must be between 0 and 1, not {rate}")
        if self.reservations.ttl_seconds < 1 or self.reservations.sweep_seconds <= 0:
            raise SettingsError(
                "RESERVATION_TTL_SECONDS must be at least 1 and RESERVATION_SWEEP_SECONDS above 0"
            )
        if self.auth.password_hash_threads < 1:
            raise SettingsError("PASSWORD_HASH_THREADS must be at least 1")
        if self.auth.login_window_seconds < 1:
            raise SettingsError("LOGIN_THROTTLE_WINDOW_SECONDS must be at least 1")
        for name, limit in (
            ("LOGIN_MAX_FAILURES", self.auth.login_max_failures),
            ("LOGIN_MAX_FAILURES_PER_CLIENT", self.auth.login_max_failures_per_client),
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", self.auth.login_max_failures_per_account),
        ):
            if limit < 0:
                raise SettingsError(f"{name} must be 0 (no limit) or more, not {limit}")
        if not 1 <= self.profiling.sample_rate <= 1000:
            raise SettingsError("PYROSCOPE_SAMPLE_RATE must be between 1 and 1000 (Hz)")
        # A new object, not a mutation: the settings stay frozen from the moment they exist.
        return replace(self, auth=replace(self.auth, jwt_secret=secret))


# The settings groups, in the order the README's table lists them: Settings' own fields.
GROUPS: tuple[type[Any], ...] = tuple(get_type_hints(Settings)[f.name] for f in fields(Settings))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once; tests build ``Settings`` directly)."""
    return Settings.from_env()
