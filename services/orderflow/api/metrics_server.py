"""``/metrics`` on a port of its own (``METRICS_PORT``), like the worker's: scrapers get a port
that a Service or NetworkPolicy can expose to them alone, users never see it."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import structlog
from prometheus_client import start_http_server

from orderflow.telemetry.prometheus import registry

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

log = structlog.get_logger(__name__)


@contextlib.asynccontextmanager
async def serving(host: str, port: int) -> AsyncIterator[None]:
    """Serve the registry on ``host:port`` (text, or OpenMetrics with exemplars when asked
    for) while the API runs; nothing when ``port`` is 0."""
    if not port:
        yield
        return
    server, thread = start_http_server(port, addr=host, registry=registry)
    log.info("metrics served on their own port", port=port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
