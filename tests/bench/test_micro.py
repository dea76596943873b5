"""bench.micro's split of a process's CPU by thread."""

from __future__ import annotations

import os
import threading
import time

import pytest
from bench.micro import cpu_by_thread_name, thread_cpu


def test_cpu_is_diffed_per_thread_id_then_summed_by_name() -> None:
    before = {1: ("main", 1.0), 2: ("pool", 5.0), 3: ("pool", 0.5)}
    # Thread 2 ended (its last 0.25 s is only in the total); thread 4, same name, started.
    after = {1: ("main", 3.0), 3: ("pool", 1.5), 4: ("pool", 0.75)}
    spent = cpu_by_thread_name(before, after, total=4.0)
    assert spent == pytest.approx({"main": 2.0, "pool": 1.75, "(ended)": 0.25})


def test_cpu_is_charged_to_the_thread_that_spent_it() -> None:
    release = threading.Event()

    def busy_then_wait() -> None:
        until = time.thread_time() + 0.3
        while time.thread_time() < until:
            os.stat("/")  # system time too, not only user time
        release.wait(60)  # still alive when read: an ended thread leaves /proc/self/task

    spinner = threading.Thread(target=busy_then_wait, name="spinner")
    before, started = thread_cpu(), time.process_time()
    spinner.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        spent = cpu_by_thread_name(before, thread_cpu(), time.process_time() - started)
        if spent.get("spinner", 0.0) >= 0.25:
            break
        time.sleep(0.01)
    release.set()
    spinner.join()

    assert spent["spinner"] >= 0.25
    # Polling costs the main thread little, and it is never charged the other thread's CPU.
    assert spent["main"] < 0.2
