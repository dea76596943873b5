"""After start-up the heap is frozen and the young generation is larger; garbage is not frozen.

Each check runs in a fresh interpreter: freezing is for the life of a process, and the test
session's own heap must stay collectable.
"""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import gc, json, weakref
from orderflow.gc_tuning import YOUNG_THRESHOLD, settle_startup_heap

class Node:
    pass

kept = [Node() for _ in range(1000)]
cycle = Node()
cycle.self = cycle  # garbage only the cycle collector can free
dead = weakref.ref(cycle)
del cycle
before = gc.get_threshold()
settle_startup_heap()
print(json.dumps({
    "frozen": gc.get_freeze_count(),
    "before": before,
    "after": gc.get_threshold(),
    "young": YOUNG_THRESHOLD,
    "cycle_collected": dead() is None,
}))
"""


def test_startup_heap_is_frozen_and_its_garbage_collected_first() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60
    )
    result = json.loads(done.stdout)
    assert result["frozen"] >= 1000  # at least the kept objects
    assert result["cycle_collected"]
    assert result["after"] == [result["young"], *result["before"][1:]]
    assert result["young"] > result["before"][0]
