"""Liveness (process only), readiness (the database and its schema) and the detailed health
view (every dependency)."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State

from orderflow import health
from orderflow.api.deps import resources_of


@get("/healthz", tags=["health"], sync_to_thread=False)
def liveness() -> dict[str, str]:
    # Never touches a dependency: a database outage must not get pods restarted.
    return {"status": "ok"}


@get("/readyz", tags=["health"])
async def readiness(state: State) -> Response[health.HealthReport]:
    report = await health.check(resources_of(state))
    return Response(report, status_code=200 if report.ready else 503)


@get("/api/health", tags=["health"])
async def health_detail(state: State) -> Response[health.HealthReport]:
    report = await health.check(resources_of(state))
    return Response(report, status_code=200 if report.healthy else 503)


health_handlers = [liveness, readiness, health_detail]
