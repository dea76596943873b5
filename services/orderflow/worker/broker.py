"""The Redis broker and its middleware stack."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    AsyncIO,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

if TYPE_CHECKING:
    from dramatiq import Middleware

    from orderflow.settings import Settings

ORDERS_QUEUE = "orders"
NOTIFICATIONS_QUEUE = "notifications"
EMAIL_QUEUE = "email"
# A killed worker's messages come back after this long without its heartbeat (default 60 s).
HEARTBEAT_TIMEOUT_MS = 20_000


def make_broker(settings: Settings, observers: list[Middleware] | None = None) -> RedisBroker:
    """``observers`` (job metrics) go first: Dramatiq runs ``after_*`` hooks in reverse order,
    so they close their measurement after Retries has re-enqueued a failure. The tracing
    middleware goes before them, added by ``DramatiqInstrumentor`` (telemetry/dramatiq.py)."""
    middleware: list[Middleware] = [
        *(observers or []),
        AgeLimit(),
        TimeLimit(time_limit=60_000),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(
            max_retries=settings.worker.max_retries,
            min_backoff=settings.worker.min_backoff_ms,
            max_backoff=settings.worker.max_backoff_ms,
        ),
        AsyncIO(),
        CurrentMessage(),
    ]
    return RedisBroker(
        url=settings.redis.url,
        middleware=middleware,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
    )
