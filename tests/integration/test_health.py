"""Liveness never depends on anything; readiness and the health view follow the dependencies,
including a database whose schema is not migrated yet."""

from __future__ import annotations

import httpx

from orderflow.devservices import Redis
from tests.support.database import Database


def test_all_healthy(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/health").json() == {
        "status": "healthy",
        "database": "healthy",
        "redis": "healthy",
    }


def test_redis_outage_makes_the_pod_unready_but_alive(
    client: httpx.Client, redis_server: Redis
) -> None:
    redis_server.stop(remove=False)
    try:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "unhealthy", "database": "healthy", "redis": "unhealthy"}
    finally:
        redis_server.start()
    assert client.get("/readyz").status_code == 200


def test_unmigrated_schema_is_not_ready(client: httpx.Client, db: Database) -> None:
    head = db.value("SELECT version_num FROM alembic_version")
    db.execute("UPDATE alembic_version SET version_num = 'older'")
    try:
        detail = client.get("/api/health")
        assert detail.status_code == 503 and detail.json()["database"] == "unhealthy"
        assert client.get("/healthz").status_code == 200
    finally:
        db.execute("UPDATE alembic_version SET version_num = $1", head)
    assert client.get("/readyz").status_code == 200


def test_openapi_schema_is_served(client: httpx.Client) -> None:
    schema = client.get("/schema/openapi.json").json()
    assert "/api/orders" in schema["paths"] and "/api/articles/{slug}" in schema["paths"]
    assert "/_sink/email" not in schema["paths"] and "/metrics" not in schema["paths"]
