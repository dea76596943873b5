"""Nothing a client sends is answered 5xx: impossible values are refused at the edge with 400
naming the field, races end in 4xx, and a database that cannot serve answers 503 with
``Retry-After``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from orderflow.devservices import Postgres, free_port
from tests.support.api_client import Account, assert_error, register
from tests.support.processes import ServiceProcess, run_cli, wait_http_ok, wait_until

INT32_OVER = 2**31
INT64_OVER = 2**63


@pytest.fixture
def account(client: httpx.Client) -> Account:
    return register(client)


@pytest.fixture
def article(client: httpx.Client, account: Account) -> str:
    created = client.post(
        "/api/articles", json={"title": "t", "description": "d", "body": "b"}, headers=account.auth
    )
    slug: str = created.json()["article"]["slug"]
    return slug


# (method, path, JSON body or None, a fragment the error must contain)
HOSTILE: list[tuple[str, str, Any, str]] = [
    ("GET", "/api/stock/a%00b", None, "item_id"),
    ("GET", "/api/inventory/a%00b", None, "item_id"),
    ("GET", "/api/articles/x%00y", None, "slug"),
    ("GET", "/api/articles?author=a%00b", None, "author"),
    ("GET", "/api/articles?favorited=a%00b", None, "favorited"),
    ("GET", f"/api/articles?offset={INT64_OVER}", None, "offset"),
    ("GET", "/api/articles?offset=99999999999999999999", None, "offset"),
    ("GET", f"/api/orders?offset={INT64_OVER}", None, "offset"),
    ("GET", f"/api/orders-nplus1?offset={INT64_OVER}", None, "offset"),
    ("POST", "/api/login", {"email": "x\u0000@y.z", "password": "correct horse"}, "email"),
    ("POST", "/api/articles", {"title": "t\u0000", "description": "d", "body": "b"}, "title"),
    ("POST", "/api/articles", {"title": "t", "description": "d", "body": "b\u0000"}, "body"),
    ("POST", "/api/articles", {"title": "t" * 201, "description": "d", "body": "b"}, "title"),
    ("POST", "/api/articles", {"title": "t", "description": "d" * 501, "body": "b"}, "desc"),
    ("POST", "/api/stock/sku-001/reserve", {"quantity": INT32_OVER}, "quantity"),
    ("POST", "/api/stock/sku-001/reserve", {"quantity": 2**64}, "quantity"),
    ("POST", "/api/stock/sku-001/reserve", {"quantity": 1, "ttl_seconds": INT32_OVER}, "ttl"),
    ("POST", "/api/stock/a%00/reserve", {"quantity": 1}, "item_id"),
    (
        "POST",
        "/api/orders",
        {"items": [{"item_id": "sku-001", "quantity": INT32_OVER, "price": 2490}]},
        "quantity",
    ),
    (
        "POST",
        "/api/orders",
        {"items": [{"item_id": "sku-001", "quantity": 1, "price": INT64_OVER}]},
        "price",
    ),
    ("POST", "/api/orders", {"items": [{"item_id": "s\u0000", "quantity": 1, "price": 1}]}, "item"),
    ("POST", "/api/orders", {"items": [{"item_id": "x" * 65, "quantity": 1, "price": 1}]}, "item"),
    (
        "POST",
        "/api/orders",
        {"items": [{"item_id": "sku-001", "quantity": 1, "price": 2490}], "customer_id": "c\u0000"},
        "customer_id",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), HOSTILE)
def test_impossible_values_are_400_naming_the_field(
    client: httpx.Client, account: Account, method: str, path: str, body: Any, field: str
) -> None:
    response = client.request(method, path, json=body, headers=account.auth)
    assert_error(response, 400, field)


def test_a_nul_character_is_explained_not_shown_as_a_regex(
    client: httpx.Client, account: Account
) -> None:
    body = {"title": "t\u0000", "description": "d", "body": "b"}
    response = client.post("/api/articles", json=body, headers=account.auth)
    assert_error(response, 400, "title: must not contain NUL (U+0000) characters")
    assert_error(client.get("/api/articles?author=a%00"), 400, "author: must not contain NUL")


def test_impossible_registrations_are_400(client: httpx.Client) -> None:
    too_long = {
        "email": "a" * 250 + "@x.test",
        "username": "longmail",
        "password": "pw-long-enough",
    }
    assert_error(client.post("/api/register", json=too_long), 400, "email")
    nul = {"email": "nul\u0000@x.test", "username": "nulmail", "password": "pw-long-enough"}
    assert_error(client.post("/api/register", json=nul), 400, "email")


def test_an_article_update_with_nul_is_400(
    client: httpx.Client, account: Account, article: str
) -> None:
    response = client.put(
        f"/api/articles/{article}", json={"title": "x\u0000"}, headers=account.auth
    )
    assert_error(response, 400, "title")


def test_deeply_nested_and_non_utf8_bodies_are_400(
    client: httpx.Client, account: Account, article: str
) -> None:
    deep = '{"items":' + "[" * 100_000 + "]" * 100_000 + "}"
    headers = {**account.auth, "content-type": "application/json"}
    for method, path in (
        ("POST", "/api/orders"),
        ("POST", "/api/register"),
        ("PUT", f"/api/articles/{article}"),
    ):
        assert_error(client.request(method, path, content=deep, headers=headers), 400, "nested")
    not_utf8 = b'{"items":[{"item_id":"\xff","quantity":1,"price":1}]}'
    assert_error(client.post("/api/orders", content=not_utf8, headers=headers), 400, "utf-8")


def test_an_order_total_past_bigint_is_refused(
    client: httpx.Client, account: Account, make_product: Callable[..., str]
) -> None:
    item = make_product(available=10, price=2**62)
    line = {"item_id": item, "quantity": 4, "price": 2**62}
    response = client.post("/api/orders", json={"items": [line]}, headers=account.auth)
    assert_error(response, 422, "total")


def _in_thread(call: Callable[[], httpx.Response]) -> tuple[threading.Thread, list[httpx.Response]]:
    result: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    return thread, result


async def _wait_for_lock_wait(url: str, query_fragment: str) -> None:
    """Until a statement containing ``query_fragment`` waits on a lock. Its own connection:
    inside a transaction pg_stat_activity is a snapshot that would never change."""
    conn = await asyncpg.connect(url)
    try:
        for _ in range(400):
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND query ILIKE $1",
                f"%{query_fragment}%",
            )
            if waiting:
                return
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError(f"no statement like {query_fragment!r} ever waited on a lock")


def test_favorite_racing_the_articles_deletion_is_404(
    client: httpx.Client, account: Account, article: str, postgres: Postgres
) -> None:
    """The favorite reads the article, then inserts; the deletion commits in between. The
    insert's foreign-key check then fails: the article is gone, which is a 404."""
    fan = register(client)

    async def race() -> httpx.Response:
        conn = await asyncpg.connect(postgres.url)
        try:
            deleting = conn.transaction()
            await deleting.start()
            # Row-locked but not committed: the API still sees the article, and its insert's
            # foreign-key check waits for this transaction.
            await conn.execute("DELETE FROM articles WHERE slug = $1", article)
            thread, result = _in_thread(
                lambda: client.post(f"/api/articles/{article}/favorite", headers=fan.auth)
            )
            await _wait_for_lock_wait(postgres.url, "INSERT INTO favorites")
            await deleting.commit()
            await asyncio.to_thread(thread.join, 30)
            return result[0]
        finally:
            await conn.close()

    assert_error(asyncio.run(race()), 404, "not found")


@pytest.fixture
def small_pool_api(
    base_env: dict[str, str], logs_dir: Path
) -> Iterator[tuple[str, ServiceProcess]]:
    port = free_port()
    env = {
        **base_env,
        "PORT": str(port),
        "DATABASE_POOL_SIZE": "1",
        "DATABASE_POOL_TIMEOUT": "0.5",
        "CACHE_TTL_SECONDS": "1",
    }
    process = ServiceProcess(["api"], env, logs_dir / f"api-small-pool-{port}.log").start()
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.stop()


def test_an_exhausted_pool_is_503_with_retry_after(
    small_pool_api: tuple[str, ServiceProcess],
    make_product: Callable[..., str],
    postgres: Postgres,
) -> None:
    url, process = small_pool_api
    held, other = make_product(), make_product()

    async def exhaust() -> tuple[httpx.Response, httpx.Response]:
        conn = await asyncpg.connect(postgres.url)
        try:
            locking = conn.transaction()
            await locking.start()
            await conn.execute("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
            # The only pooled connection waits on the lock...
            thread, first = _in_thread(lambda: httpx.get(f"{url}/api/stock/{held}", timeout=30))
            await _wait_for_lock_wait(postgres.url, "FROM products")
            # ...so the next request finds no connection within the pool timeout.
            second = await asyncio.to_thread(httpx.get, f"{url}/api/stock/{other}", timeout=30)
            await locking.rollback()
            await asyncio.to_thread(thread.join, 30)
            return first[0], second
        finally:
            await conn.close()

    first, second = asyncio.run(exhaust())
    assert first.status_code == 200, first.text
    assert_error(second, 503, "unavailable")
    assert second.headers["retry-after"].isdigit()
    assert "unhandled error" not in process.log()


@pytest.fixture
def own_postgres(base_env: dict[str, str]) -> Iterator[Postgres]:
    """A PostgreSQL of this test's own, so stopping it does not disturb the others."""
    server = Postgres().start()
    try:
        yield server
    finally:
        server.stop()


def test_a_stopped_database_is_503_then_recovers(
    base_env: dict[str, str], own_postgres: Postgres, logs_dir: Path
) -> None:
    env = {**base_env, "DATABASE_URL": own_postgres.url, "PORT": str(free_port())}
    run_cli(env, "migrate", "up", check=True)
    process = ServiceProcess(["api"], env, logs_dir / f"api-own-pg-{env['PORT']}.log").start()
    url = f"http://127.0.0.1:{env['PORT']}"
    try:
        wait_http_ok(f"{url}/healthz", process)
        with httpx.Client(base_url=url, timeout=30) as http:
            account = register(http)  # pooled connections now exist
            own_postgres.stop(remove=False)
            try:
                for _ in range(5):
                    assert_error(http.get("/api/user", headers=account.auth), 503, "unavailable")
                    down = http.get("/api/orders", headers=account.auth)
                    assert_error(down, 503)
                    assert down.headers["retry-after"].isdigit()
            finally:
                own_postgres.start()
            wait_until(lambda: http.get("/api/user", headers=account.auth).status_code == 200)
        assert "unhandled error" not in process.log()
    finally:
        process.stop()
