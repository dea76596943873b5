"""``orderflow worker``: one process running the Dramatiq worker threads and the outbox relay.

One process per pod, scaled by replicas: no forked children sharing a telemetry identity.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from typing import TYPE_CHECKING

import dramatiq
import structlog
from dramatiq.brokers.redis import RedisBroker
from prometheus_client import start_http_server

from orderflow.resources import Resources
from orderflow.telemetry.dramatiq import OpenTelemetryMiddleware
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


def listen_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _serve(settings: Settings, broker: RedisBroker) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
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


def run(settings: Settings) -> None:
    broker = make_broker(settings, [OpenTelemetryMiddleware(), JobMetrics()])
    QueueGauges(settings.redis.url, QUEUES.values())
    if settings.worker.metrics_port:
        start_http_server(settings.worker.metrics_port, registry=prometheus_registry)
    context = ActorContext(settings)
    register_actors(broker, context)
    # A short consumer timeout: an idle queue is polled every 100 ms instead of every second,
    # which is what bounds the enqueue-to-start latency of a quiet queue.
    worker = dramatiq.Worker(
        broker, worker_threads=settings.worker.threads, worker_timeout=WORKER_POLL_MS
    )
    worker.start()
    log.info("worker started", threads=settings.worker.threads, queues=sorted(set(QUEUES.values())))
    try:
        asyncio.run(_serve(settings, broker))
    finally:
        log.info("worker stopping")
        worker.stop(timeout=SHUTDOWN_TIMEOUT_MS)
        broker.close()
