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


def test_redis_outage_keeps_the_api_ready_and_shows_in_the_health_view(
    client: httpx.Client, redis_server: Redis
) -> None:
    """The API serves without Redis (reads from the database, orders into the outbox), so a
    Redis outage must not empty its Service; the detailed view still names the outage."""
    redis_server.stop(remove=False)
    try:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "unhealthy", "database": "healthy", "redis": "unhealthy"}
        detail = client.get("/api/health")
        assert detail.status_code == 503 and detail.json()["redis"] == "unhealthy"
    finally:
        redis_server.start()
    assert client.get("/api/health").status_code == 200


def test_unmigrated_schema_is_not_ready(client: httpx.Client, db: Database) -> None:
    head = db.value("SELECT version_num FROM alembic_version")
    db.execute("DELETE FROM alembic_version")
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["database"] == "unhealthy"
        assert client.get("/healthz").status_code == 200
    finally:
        db.execute("INSERT INTO alembic_version (version_num) VALUES ($1)", head)
    assert client.get("/readyz").status_code == 200


def test_schema_newer_than_the_build_is_ready(client: httpx.Client, db: Database) -> None:
    """After `helm rollback` the older API runs on a schema a newer release migrated
    (expand/contract): a revision this build does not know counts as ahead, not missing."""
    head = db.value("SELECT version_num FROM alembic_version")
    db.execute("UPDATE alembic_version SET version_num = 'ffffffff_from_a_newer_release'")
    try:
        assert client.get("/readyz").status_code == 200
    finally:
        db.execute("UPDATE alembic_version SET version_num = $1", head)


def test_openapi_schema_is_served(client: httpx.Client) -> None:
    schema = client.get("/schema/openapi.json").json()
    assert "/api/orders" in schema["paths"] and "/api/articles/{slug}" in schema["paths"]
    assert "/_sink/email" not in schema["paths"] and "/metrics" not in schema["paths"]
