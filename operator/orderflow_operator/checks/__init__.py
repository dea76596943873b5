"""Dependency checks, one module per dependency type.

Every checker is ``async def check(address: str) -> None``: it returns when the dependency
answered like a healthy one and raises otherwise. ``run_check`` adds the timeout, the timing
and the error text; it never raises.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orderflow_operator.checks import egress, http, otlp, postgres, redis, tcp
from orderflow_operator.crd.models import DependencyType
from orderflow_operator.secrecy import NO_REDACTION, Redactor

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


CHECKERS: dict[DependencyType, Callable[[str], Awaitable[None]]] = {
    DependencyType.POSTGRES: postgres.check,
    DependencyType.REDIS: redis.check,
    DependencyType.HTTP: http.check,
    DependencyType.TCP: tcp.check,
    DependencyType.OTLP: otlp.check,
}

MAX_ERROR_LENGTH = 300


@dataclass(frozen=True)
class CheckResult:
    healthy: bool
    latency_ms: float
    error: str | None = None


def describe(exc: BaseException, redactor: Redactor = NO_REDACTION) -> str:
    """A short, single-line reason fit for a status field and an Event. The redactor runs
    before the cut: a cut first could leave a piece of a secret no match finds."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = " ".join(str(exc).split()) or "no details"
    return redactor.clean(f"{type(exc).__name__}: {text}")[:MAX_ERROR_LENGTH]


async def run_check(
    kind: DependencyType, address: str, timeout_s: float, redactor: Redactor = NO_REDACTION
) -> CheckResult:
    """``redactor``: for an address read from a Secret, whatever the error text would show
    of it is replaced (see ``secrecy``)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            await egress.vet(address)
            await CHECKERS[kind](address)
    except Exception as exc:  # any failure to answer is "unhealthy"; the reason is reported
        return CheckResult(False, _elapsed_ms(started), describe(exc, redactor))
    return CheckResult(True, _elapsed_ms(started))


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
