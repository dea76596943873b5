"""Tallies export the same metric an SDK counter would, read at collection time."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, Sum

from orderflow.telemetry.tally import tally_counter, tally_up_down_counter

if TYPE_CHECKING:
    from collections.abc import Iterator

    from opentelemetry.metrics import Meter


@pytest.fixture
def reader_and_meter() -> Iterator[tuple[InMemoryMetricReader, Meter]]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    yield reader, provider.get_meter("test")
    provider.shutdown()


def _sum(reader: InMemoryMetricReader, name: str) -> Sum:
    data = reader.get_metrics_data()
    assert data is not None
    [metric] = [
        m
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == name
    ]
    assert isinstance(metric.data, Sum)
    return metric.data


def _by_namespace(data: Sum) -> dict[object, int | float]:
    return {(p.attributes or {}).get("cache.namespace"): p.value for p in data.data_points}


def test_counter_exports_cumulative_monotonic_totals_per_attribute_set(
    reader_and_meter: tuple[InMemoryMetricReader, Meter],
) -> None:
    reader, meter = reader_and_meter
    hits = tally_counter(meter, "cache.hits", unit="{lookup}", description="served")
    stock = (("cache.namespace", "stock"),)
    hits.add(stock)
    hits.add(stock, 2)
    hits.add((("cache.namespace", "article"),))

    first = _sum(reader, "cache.hits")
    assert first.is_monotonic
    assert first.aggregation_temporality is AggregationTemporality.CUMULATIVE
    assert _by_namespace(first) == {"stock": 3, "article": 1}
    hits.add(stock)
    assert _by_namespace(_sum(reader, "cache.hits")) == {"stock": 4, "article": 1}


def test_up_down_counter_goes_back_to_zero(
    reader_and_meter: tuple[InMemoryMetricReader, Meter],
) -> None:
    reader, meter = reader_and_meter
    active = tally_up_down_counter(meter, "active", unit="{request}", description="in flight")
    get = (("http.request.method", "GET"),)
    active.add(get, 1)
    active.add(get, 1)
    assert [p.value for p in _sum(reader, "active").data_points] == [2]
    active.add(get, -1)
    active.add(get, -1)
    data = _sum(reader, "active")
    assert not data.is_monotonic
    assert [p.value for p in data.data_points] == [0]


def test_adds_from_many_threads_are_all_counted(
    reader_and_meter: tuple[InMemoryMetricReader, Meter],
) -> None:
    reader, meter = reader_and_meter
    jobs = tally_counter(meter, "jobs", unit="{job}", description="jobs")
    key = (("queue", "orders"),)

    def add_many() -> None:
        for _ in range(20_000):
            jobs.add(key)

    threads = [threading.Thread(target=add_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    # Collections while writers run must neither fail nor lose what comes after.
    for _ in range(20):
        _sum(reader, "jobs")
    for thread in threads:
        thread.join()
    assert [p.value for p in _sum(reader, "jobs").data_points] == [160_000]
