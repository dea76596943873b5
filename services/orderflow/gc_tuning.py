"""The garbage collector's settings for a long-running API or worker process.

Why: at 100% sampling every request leaves objects alive past the collector's young-generation
threshold (its spans wait up to the export delay in the batch queue, its metric and log
records too), so they are promoted and, every few thousand requests, trigger a full
collection. A full collection walks the whole heap, and most of the heap is what start-up
built: every imported module, the ORM's mappers, Litestar's routing and signature models.
Measured on the cached read (bench/README.md, "Round of 2026-12-03"): 42 µs of collector time
per request and full collections of ~100 ms each, a stall of the event loop that shows as
the p99.

* ``gc.freeze()`` once start-up is over moves that heap to the permanent generation: full
  collections only walk what was created since (it is never freed, and it was never going
  to be: it lives as long as the process).
* A young-generation threshold of 10,000 allocations instead of 700: a request's objects mostly
  die by reference counting before a collection sees them; fewer, slightly larger young
  collections walk the in-flight requests' objects less often. (CPython 3.13 raised its own
  default to 2,000 for the same reason.)
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def settle_startup_heap() -> None:
    """Call once, when the process has built everything it keeps (app, settings, imports)
    and before it serves."""
    gc.collect()  # what start-up left as garbage must not be frozen with the rest
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
