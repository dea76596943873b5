"""Login throttling: 429 with Retry-After per account and address, per address and per
account; only failures count; it ends with its window; it never locks the owner out from
elsewhere; Redis down means logins go on unthrottled. Usernames are matched whole."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orderflow.devservices import Redis
from tests.support.api_client import Account, assert_error, register
from tests.support.processes import api_process, wait_until

LIMITS = {
    "LOGIN_MAX_FAILURES": "5",
    "LOGIN_MAX_FAILURES_PER_CLIENT": "20",
    "LOGIN_MAX_FAILURES_PER_ACCOUNT": "30",
}
# A generous bound on this module's run time (about 20 s on these machines).
MODULE_SECONDS = 120


@pytest.fixture(scope="module")
def throttled_url(base_env: dict[str, str], logs_dir: Path) -> Iterator[str]:
    """An API whose window outlasts the module: counts never straddle two windows. Windows
    are aligned to the clock (whole hours here), so a module that would run across the hour
    starts after it instead."""
    left_in_window = 3600 - time.time() % 3600
    if left_in_window < MODULE_SECONDS:
        time.sleep(left_in_window + 1)
    env = {**base_env, **LIMITS, "LOGIN_THROTTLE_WINDOW_SECONDS": "3600"}
    with api_process(env, logs_dir, "api-throttle") as url:
        yield url


@pytest.fixture
def http(throttled_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=throttled_url, timeout=30) as client:
        yield client


def address() -> str:
    """A client address of its own (the API trusts X-Forwarded-For from 127.0.0.1)."""
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2]}"


def login(
    http: httpx.Client, account: Account, client: str, password: str | None = None
) -> httpx.Response:
    body = {"email": account.email, "password": password or account.password}
    return http.post("/api/login", json=body, headers={"X-Forwarded-For": client})


def test_failures_per_account_and_address_are_throttled(http: httpx.Client) -> None:
    victim, attacker = register(http), address()
    for _ in range(5):
        assert_error(login(http, victim, attacker, "wrong password"), 401)
    # Even the right password now: the throttle is decided before the password is checked.
    response = login(http, victim, attacker)
    assert_error(response, 429, "too many failed logins")
    assert 1 <= int(response.headers["retry-after"]) <= 3600
    # The owner, elsewhere, is not locked out by one attacker...
    assert login(http, victim, address()).status_code == 200
    # ...nor is another account from the attacker's address (below the per-address limit).
    assert login(http, register(http), attacker).status_code == 200


def test_successful_logins_do_not_count(http: httpx.Client) -> None:
    account, client = register(http), address()
    for _ in range(12):
        assert login(http, account, client).status_code == 200
    for _ in range(5):
        assert_error(login(http, account, client, "wrong"), 401)
    assert_error(login(http, account, client), 429)


def test_spraying_many_accounts_from_one_address_is_throttled(http: httpx.Client) -> None:
    sprayer = address()
    for n in range(20):
        body = {"email": f"nobody-{n}-{uuid.uuid4().hex[:6]}@example.test", "password": "guess"}
        response = http.post("/api/login", json=body, headers={"X-Forwarded-For": sprayer})
        assert_error(response, 401)
    assert_error(login(http, register(http), sprayer), 429)


def test_guessing_one_account_from_many_addresses_is_throttled(http: httpx.Client) -> None:
    target = register(http)
    for _ in range(30):
        assert_error(login(http, target, address(), "guess"), 401)
    response = login(http, target, address())
    assert_error(response, 429)
    assert int(response.headers["retry-after"]) <= 3600


def test_concurrent_guesses_cannot_slip_past_the_count(
    http: httpx.Client, throttled_url: str
) -> None:
    account, client = register(http), address()

    async def burst() -> Counter[int]:
        async with httpx.AsyncClient(base_url=throttled_url, timeout=60) as ahttp:
            body = {"email": account.email, "password": "wrong"}
            headers = {"X-Forwarded-For": client}
            replies = await asyncio.gather(
                *(ahttp.post("/api/login", json=body, headers=headers) for _ in range(25))
            )
        return Counter(r.status_code for r in replies)

    assert asyncio.run(burst()) == {401: 5, 429: 20}


def test_throttling_ends_with_its_window(base_env: dict[str, str], logs_dir: Path) -> None:
    env = {**base_env, "LOGIN_MAX_FAILURES": "2", "LOGIN_THROTTLE_WINDOW_SECONDS": "2"}
    with api_process(env, logs_dir, "api-short-window") as url, httpx.Client(base_url=url) as http:
        account, client = register(http), address()
        # Windows are aligned to the clock: failures split across a boundary count in two
        # windows, so keep failing until one window holds more than the limit.
        wait_until(lambda: login(http, account, client, "wrong").status_code == 429, timeout=10)
        wait_until(lambda: login(http, account, client).status_code == 200, timeout=15)


def test_redis_down_means_unthrottled_logins_not_refused_ones(
    http: httpx.Client, redis_server: Redis, throttled_url: str
) -> None:
    account, client = register(http), address()
    redis_server.stop(remove=False)
    try:
        for _ in range(7):  # past the limit: nothing counts while Redis is away
            assert_error(login(http, account, client, "wrong"), 401)
        assert login(http, account, client).status_code == 200
    finally:
        redis_server.start()


def test_usernames_are_matched_whole(client: httpx.Client) -> None:
    existing = register(client)
    for username in (existing.username + "\n", "newline-name\n", "tab\tname"):
        body = {
            "email": f"{uuid.uuid4().hex[:8]}@example.test",
            "username": username,
            "password": "long enough pw",
        }
        assert_error(client.post("/api/register", json=body), 422, "username")
