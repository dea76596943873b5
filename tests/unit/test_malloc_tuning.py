"""Freed argon2 working memory goes back to the OS once the threshold is fixed.

Each check runs in a fresh interpreter: the setting is for the life of a process, and the
point is what a server process looks like after its password hashes, not the test session.
The untuned interpreter is the control: it shows the retention the setting exists to prevent,
so a change that made the setting a no-op fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys

MIB = 1024 * 1024

SCRIPT = """
import json, sys, threading
from orderflow.malloc_tuning import return_large_blocks_to_os

tuned = return_large_blocks_to_os() if sys.argv[1] == "tuned" else None
from orderflow.domain.users.security import hash_password  # hashes once at import


def rss() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


before = rss()
barrier = threading.Barrier(4)


def hash_in_thread() -> None:
    barrier.wait()  # four hashes at once, in four arenas
    hash_password("correct horse battery staple")


threads = [threading.Thread(target=hash_in_thread) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"tuned": tuned, "retained": rss() - before}))
"""


def _retained(mode: str) -> dict[str, int | bool | None]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, int | bool | None] = json.loads(done.stdout)
    return result


def test_freed_hash_memory_is_returned_to_the_os() -> None:
    tuned = _retained("tuned")
    assert tuned["tuned"] is True  # glibc: the test bed and the image both run on it
    assert isinstance(tuned["retained"], int)
    assert tuned["retained"] < 8 * MIB


def test_without_it_every_hashing_thread_keeps_its_19_mib() -> None:
    control = _retained("default")
    assert isinstance(control["retained"], int)
    assert control["retained"] > 2 * 19 * MIB
