"""The API process's background task that ends expired reservations.

Every replica runs one; that is safe (each expired row is deleted, and its units returned, by
exactly one of them) and needs nothing else running. Its SQL is not traced: a root span every
few seconds per replica would bury the traces people look for.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import structlog
from opentelemetry.instrumentation.utils import suppress_instrumentation

from orderflow.domain.catalog.service import CatalogService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from orderflow.resources import Resources

log = structlog.get_logger(__name__)


async def sweep_once(resources: Resources) -> int:
    with suppress_instrumentation():
        async with resources.sessions() as session:
            return await CatalogService(session, resources.cache).sweep_expired()


async def _run(resources: Resources, interval: float) -> None:
    failing = False
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep_once(resources)
        except Exception as exc:
            if not failing:
                log.warning("reservation sweep failed; retrying", error=str(exc)[:300])
            failing = True
        else:
            if failing:
                log.info("reservation sweep recovered")
            failing = False


@contextlib.asynccontextmanager
async def running(resources: Resources, interval: float) -> AsyncIterator[None]:
    task = asyncio.create_task(_run(resources, interval), name="reservation-sweeper")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
