"""Polling helper for eventually-consistent cluster state."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T], *, timeout: float = 60.0, interval: float = 0.5, what: str = ""
) -> T:
    """Call ``probe`` until it returns something truthy; fail the test with its last value."""
    deadline = time.monotonic() + timeout
    last: T = probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or probe}: {last!r}"
            )
        time.sleep(interval)
        last = probe()
    return last


def holds_for(probe: Callable[[], bool], *, duration: float, interval: float = 0.5) -> bool:
    """True if ``probe`` stays true for the whole ``duration`` (checks a negative claim)."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        if not probe():
            return False
        time.sleep(interval)
    return probe()
