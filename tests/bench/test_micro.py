"""bench.micro's split of a process's CPU by thread."""

from __future__ import annotations

import threading
import time

from bench.micro import _thread_cpu


def _spin(seconds: float) -> None:
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def test_cpu_is_charged_to_the_thread_that_spent_it() -> None:
    release = threading.Event()

    def busy_then_wait() -> None:
        _spin(0.3)
        release.wait(10)  # still alive when read: an ended thread leaves /proc/self/task

    spinner = threading.Thread(target=busy_then_wait, name="spinner")
    before = _thread_cpu()
    spinner.start()
    _spin(0.1)
    while spinner.is_alive() and _thread_cpu().get("spinner", 0.0) < 0.25:
        time.sleep(0.01)
    after = _thread_cpu()
    release.set()
    spinner.join()

    assert "spinner" not in before
    assert after["spinner"] >= 0.25
    # The main thread spun 0.1 s itself (clock ticks are 10 ms) and is never charged the other's.
    assert 0.08 <= after["main"] - before["main"] < 0.25
