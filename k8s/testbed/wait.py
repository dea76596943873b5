"""The one polling helper: for a process becoming ready, cluster state converging, telemetry
arriving, and (``holds_for``) for a negative claim over a span of time."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


def poll(probe: Callable[[], T], *, timeout: float, interval: float = 0.5) -> T:
    """Call ``probe`` until it returns something truthy or ``timeout`` seconds have passed;
    its last value either way (falsy means timed out)."""
    deadline = time.monotonic() + timeout
    last = probe()
    while not last and time.monotonic() < deadline:
        time.sleep(interval)
        last = probe()
    return last


def wait_until(
    probe: Callable[[], T], *, timeout: float = 60.0, interval: float = 0.5, what: str = ""
) -> T:
    """Call ``probe`` until it returns something truthy; fail the test with its last value."""
    last = poll(probe, timeout=timeout, interval=interval)
    if not last:
        raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}: {last!r}")
    return last


def holds_for(probe: Callable[[], bool], *, duration: float, interval: float = 0.5) -> bool:
    """True if ``probe`` stays true for the whole ``duration`` (checks a negative claim)."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        if not probe():
            return False
        time.sleep(interval)
    return probe()
