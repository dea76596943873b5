"""Secret values never leave the operator in an error text; checks refuse metadata addresses.

Real checks against real (or really absent) servers: the error texts are the ones the
libraries produce, so a library that starts printing the address differently is caught.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

from orderflow.devservices import free_port, wait_for_port
from orderflow_operator.checks import MAX_ERROR_LENGTH, run_check
from orderflow_operator.checks.egress import Egress, forbidden, hosts
from orderflow_operator.crd.models import DependencyType as T
from orderflow_operator.secrecy import (
    KEYS_ANNOTATION,
    OPT_IN_LABEL,
    Redactor,
    readable_keys,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

LABEL = "secret app/KEY"


def _jwt_like() -> str:
    return secrets.token_urlsafe(36)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        # The case: a JWT secret used as a tcp address (not host:port at all).
        (T.TCP, _jwt_like()),
        (T.TCP, f"{_jwt_like()}:5432"),  # looks like host:port, the host is the secret
        (T.HTTP, f"http://{_jwt_like()}.invalid:8080/"),
        (T.HTTP, f"not a url {_jwt_like()}"),
        (T.OTLP, f"http://user:{_jwt_like()}@127.0.0.1:{free_port()}"),
        (T.REDIS, f"redis://:{_jwt_like()}@127.0.0.1:{free_port()}/0"),
        (T.POSTGRES, f"postgresql://orderflow:{_jwt_like()}@127.0.0.1:{free_port()}/db"),
        (T.POSTGRES, _jwt_like()),
    ],
)
async def test_error_texts_never_carry_the_secret(kind: T, value: str) -> None:
    result = await run_check(kind, value, 3.0, Redactor(value, LABEL))
    assert not result.healthy
    assert result.error
    secret_part = value.rsplit(":", 1)[0] if kind == T.TCP and ":" in value else value
    for piece in {secret_part, *(p for p in value.replace("@", ":").split(":") if len(p) > 20)}:
        assert piece not in result.error
        assert piece.lower() not in result.error.lower()
    unredacted = await run_check(kind, value, 3.0)
    print(f"{kind}: {result.error!r} (unredacted: {unredacted.error!r})")


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[tuple[int, str]]:
    password, port = secrets.token_hex(16), free_port()
    binary = shutil.which("redis-server")
    assert binary, "redis-server: run `make system-deps`"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir",
         str(tmp_path), "--requirepass", password],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port)
        yield port, password
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_a_wrong_redis_password_is_hidden_but_the_reason_stays(
    redis_with_password: tuple[int, str],
) -> None:
    port, password = redis_with_password
    wrong = secrets.token_hex(20)
    url = f"redis://:{wrong}@127.0.0.1:{port}/0"
    result = await run_check(T.REDIS, url, 3.0, Redactor(url, LABEL))
    assert not result.healthy and result.error
    assert wrong not in result.error
    assert "AuthenticationError" in result.error, result.error
    ok = f"redis://:{password}@127.0.0.1:{port}/0"
    assert (await run_check(T.REDIS, ok, 3.0, Redactor(ok, LABEL))).healthy
    # Anonymous host:port still counts the server as up (it answers NOAUTH): no Secret needed.
    assert (await run_check(T.REDIS, f"127.0.0.1:{port}", 3.0)).healthy


def test_redaction_happens_before_the_cut() -> None:
    value = _jwt_like()
    text = "x" * (MAX_ERROR_LENGTH - 10) + value
    cleaned = Redactor(value, LABEL).clean(text)
    assert value[:10] not in cleaned[:MAX_ERROR_LENGTH]


@pytest.mark.parametrize(
    "spelling",
    [
        lambda v: v.upper(),  # a library that upper-cases
        lambda v: v[5:30],  # a piece of it
        lambda v: v.replace("-", "%2D"),  # re-quoted
    ],
)
def test_other_spellings_withhold_the_details(spelling: object) -> None:
    value = "Abcdefghij-klmnopqrstu-vwxyz0123456789"
    text = f"Error: could not reach {spelling(value)} (refused)"  # type: ignore[operator]
    cleaned = Redactor(value, LABEL).clean(text)
    assert value.lower()[5:13] not in cleaned.lower()
    assert "withheld" in cleaned or LABEL in cleaned


def test_plain_addresses_are_not_touched() -> None:
    text = "ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 5432)"
    assert Redactor("", LABEL).clean(text) == text


def _secret(labels: dict[str, str] | None, annotations: dict[str, str] | None) -> dict[str, object]:
    return {
        "metadata": {"name": "app", "labels": labels or {}, "annotations": annotations or {}},
        "data": {"JWT_SECRET": "eA==", "REDIS_URL": "eA=="},
    }


def test_only_opted_in_secrets_and_keys_are_readable() -> None:
    assert readable_keys(_secret(None, None)) == set()
    assert readable_keys(_secret({OPT_IN_LABEL: "false"}, None)) == set()
    assert readable_keys(_secret({OPT_IN_LABEL: "true"}, None)) == {"JWT_SECRET", "REDIS_URL"}
    only_url = _secret({OPT_IN_LABEL: "true"}, {KEYS_ANNOTATION: "REDIS_URL, DATABASE_URL"})
    assert readable_keys(only_url) == {"REDIS_URL"}


@pytest.mark.parametrize(
    ("ip", "refused"),
    [
        ("169.254.169.254", True),
        ("169.254.0.1", True),
        ("100.100.100.200", True),
        ("fd00:ec2::254", True),
        ("fe80::1%eth0", True),
        ("::ffff:169.254.169.254", True),
        ("10.0.0.1", False),
        ("127.0.0.1", False),
        ("fd00:ec2::253", False),
        ("db.example", False),
    ],
)
def test_forbidden_ranges(ip: str, refused: bool) -> None:
    assert forbidden(ip) is refused


def test_every_host_of_a_dsn_is_vetted() -> None:
    dsn = "postgresql://u:p@db1,db2:5432/x?host=169.254.169.254&hostaddr=10.0.0.1"
    assert hosts(dsn) == ["db1", "db2", "169.254.169.254", "10.0.0.1"]


@pytest.mark.parametrize(
    ("kind", "address"),
    [
        (T.HTTP, "http://169.254.169.254/latest/meta-data/"),
        (T.TCP, "169.254.169.254:80"),
        (T.TCP, "[fd00:ec2::254]:80"),
        (T.POSTGRES, "postgresql://u:p@db.invalid/x?host=169.254.169.254"),
        (T.REDIS, "redis://[::ffff:169.254.169.254]:6379/0"),
        (T.OTLP, "http://100.100.100.200:4318"),
    ],
)
async def test_checks_refuse_metadata_addresses(kind: T, address: str) -> None:
    result = await run_check(kind, address, 2.0)
    assert not result.healthy
    assert result.error and "ForbiddenAddress" in result.error, result.error
    assert result.latency_ms < 1000, "refused before any connection attempt"


async def test_a_name_resolving_to_link_local_is_refused() -> None:
    # The resolver answers for this name from /etc/hosts-free numeric spelling: inet_aton form.
    result = await run_check(T.TCP, "0xa9fea9fe:80", 2.0)  # 169.254.169.254 in hex
    assert not result.healthy
    assert result.error and "ForbiddenAddress" in result.error, result.error


async def test_allow_link_local_lifts_the_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Egress, "allow_link_local", True)
    result = await run_check(T.TCP, "169.254.0.1:9", 0.5)
    # Whatever this network answers (refused, timeout, a proxy accepting), it was tried.
    assert result.error is None or "ForbiddenAddress" not in result.error
