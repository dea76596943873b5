"""Counters kept as plain integers and read by an observable instrument at collection time.

Why: every synchronous SDK measurement (``Counter.add``) hashes its attribute set and updates the
aggregation of every metric reader of the process (the Prometheus bridge and the OTLP exporter),
about 20 µs per reader on a hot path. A count that the scrape or the export reads anyway can be
a dict update instead; the exported metric (name, unit, description, attributes, monotonic sum
with cumulative points) is the same. Histograms stay synchronous: their exemplars need the span
that is current at the time of the measurement.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from opentelemetry.metrics import CallbackOptions, Observation

if TYPE_CHECKING:
    from collections.abc import Iterable

    from opentelemetry.metrics import Meter
    from opentelemetry.util.types import AttributeValue

Key = tuple[tuple[str, "AttributeValue"], ...]
"""An attribute set as a hashable tuple of (name, value) pairs, built once per call site."""


class Tally:
    """Integer totals per attribute set. ``add`` may run on any thread (the worker's actors
    run on several); the metric readers' threads take a copy under the same lock."""

    def __init__(self) -> None:
        self._counts: dict[Key, int] = {}
        self._lock = threading.Lock()

    def add(self, key: Key, value: int = 1) -> None:
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + value

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            counts = list(self._counts.items())
        return [Observation(count, dict(key)) for key, count in counts]


def tally_counter(meter: Meter, name: str, *, unit: str, description: str) -> Tally:
    """A monotonic counter (exported like ``meter.create_counter``'s) fed by a ``Tally``."""
    tally = Tally()
    meter.create_observable_counter(
        name, callbacks=[tally.observe], unit=unit, description=description
    )
    return tally


def tally_up_down_counter(meter: Meter, name: str, *, unit: str, description: str) -> Tally:
    """A non-monotonic counter (like ``meter.create_up_down_counter``'s) fed by a ``Tally``."""
    tally = Tally()
    meter.create_observable_up_down_counter(
        name, callbacks=[tally.observe], unit=unit, description=description
    )
    return tally
