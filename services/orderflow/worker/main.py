"""``orderflow worker``: one process running the Dramatiq worker threads and the outbox relay.

One process per pod, scaled by replicas: no forked children sharing a telemetry identity.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import dramatiq
import structlog
from dramatiq.brokers.redis import RedisBroker
from prometheus_client import start_http_server

from orderflow.db.migrate import database_version, schema_usable
from orderflow.gc_tuning import settle_startup_heap
from orderflow.resources import Resources
from orderflow.telemetry.dramatiq import DramatiqInstrumentor
from orderflow.telemetry.prometheus import registry as prometheus_registry
from orderflow.worker.actors import QUEUES, ActorContext, register_actors
from orderflow.worker.broker import ORDERS_QUEUE, make_broker
from orderflow.worker.metrics import JobMetrics, QueueGauges
from orderflow.worker.relay import OutboxRelay

if TYPE_CHECKING:
    from orderflow.settings import Settings

log = structlog.get_logger(__name__)
SHUTDOWN_TIMEOUT_MS = 25_000
WORKER_POLL_MS = 100  # inside Kubernetes' default 30 s grace period
SCHEMA_POLL_SECONDS = 2.0


def listen_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class ShutdownRequest:
    """SIGTERM/SIGINT turned into a flag from the first line of ``run``.

    Kubernetes may stop a pod at any moment of its start (a rollout, a scale-down), including
    while it waits for the schema or between starting the consumer threads and the relay's
    event loop; without a handler there, the default action kills the process and the Dramatiq
    threads never get to requeue their messages."""

    def __init__(self) -> None:
        self.requested = threading.Event()

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.requested.set()


async def _serve(settings: Settings, broker: RedisBroker, shutdown: ShutdownRequest) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if shutdown.requested.is_set():  # arrived before the loop's own handlers
        stop.set()
    resources = Resources.open(settings)
    relay = OutboxRelay(
        resources.sessions,
        broker,
        QUEUES,
        listen_dsn=listen_dsn(settings.database.url),
        poll_seconds=settings.worker.outbox_poll_seconds,
        resume_after=timedelta(seconds=settings.worker.resume_after_seconds),
        orders_waiting=lambda: int(broker.client.llen(f"{broker.namespace}:{ORDERS_QUEUE}")),
    )
    try:
        await relay.run(stop)
    finally:
        await resources.close()


def wait_for_schema(database_url: str, shutdown: threading.Event | None = None) -> bool:
    """Block until the database is reachable and its schema is one this build can use.

    On a first install the worker starts next to the API pods whose init container is still
    migrating: consuming messages or relaying the outbox before the tables exist would only
    fail, and exiting would make Kubernetes restart the pod with a growing back-off.

    Returns False when ``shutdown`` is set while waiting."""
    shutdown = shutdown or threading.Event()
    waited = False
    while True:
        try:
            version = asyncio.run(database_version(database_url))
        except Exception as exc:  # unreachable, refused, timed out: keep waiting, say why
            version, reason = None, type(exc).__name__
        else:
            reason = "schema not migrated yet"
        if schema_usable(version):
            if waited:
                log.info("database schema ready", revision=version)
            return True
        log.info("waiting for the database schema", reason=reason)
        waited = True
        if shutdown.wait(SCHEMA_POLL_SECONDS):
            return False


def run(settings: Settings) -> None:
    shutdown = ShutdownRequest()
    shutdown.install()
    if not wait_for_schema(settings.database.url, shutdown.requested):
        log.info("worker stopping", reason="shutdown requested while waiting for the schema")
        return
    # Zero-code mode has already instrumented Dramatiq through the entry point; the SDK mode
    # does it here. Either way every broker created from now on carries the tracing middleware.
    instrumentor = DramatiqInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()
    broker = make_broker(settings, [JobMetrics()])
    QueueGauges(settings.redis.url, QUEUES.values())
    if settings.worker.metrics_port:
        start_http_server(settings.worker.metrics_port, registry=prometheus_registry)
    context = ActorContext(settings)
    register_actors(broker, context)
    settle_startup_heap()
    # A short consumer timeout: an idle queue is polled every 100 ms instead of every second,
    # which is what bounds the enqueue-to-start latency of a quiet queue.
    worker = dramatiq.Worker(
        broker, worker_threads=settings.worker.threads, worker_timeout=WORKER_POLL_MS
    )
    worker.start()
    log.info("worker started", threads=settings.worker.threads, queues=sorted(set(QUEUES.values())))
    try:
        asyncio.run(_serve(settings, broker, shutdown))
    finally:
        log.info("worker stopping")
        worker.stop(timeout=SHUTDOWN_TIMEOUT_MS)
        broker.close()
