"""Prometheus exposition of the OpenTelemetry metrics, with trace exemplars.

One set of instruments feeds both OTLP and the scrape endpoints. The stock
``opentelemetry-exporter-prometheus`` drops exemplars and prometheus-client's multiprocess mode
cannot carry them, so this small bridge converts the SDK's cumulative points itself:
histogram buckets keep the exemplar (``trace_id``) the SDK sampled for them, and the OpenMetrics
format links a slow bucket straight to the trace that fell into it.

It is a ``MetricReader``, registered either by our own set-up or, in zero-code mode, through the
``opentelemetry_metrics_exporter`` entry point ``orderflow_prometheus``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics import Counter, Histogram, ObservableCounter, UpDownCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    MetricReader,
    MetricsData,
    Sum,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    Exemplar,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST as TEXT
from prometheus_client.exposition import generate_latest as text_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from opentelemetry.sdk.metrics.export import Metric as OtelMetric

_UNIT_SUFFIX = {"s": "seconds", "ms": "milliseconds", "By": "bytes", "1": "ratio"}
_INVALID = re.compile(r"[^a-zA-Z0-9_:]")

_active: PrometheusBridgeReader | None = None


def prometheus_name(name: str, unit: str) -> str:
    """OTel name + unit -> Prometheus name, as the OTel compatibility spec describes."""
    base = _INVALID.sub("_", name)
    suffix = _UNIT_SUFFIX.get(unit, "" if unit.startswith("{") else _INVALID.sub("_", unit))
    if suffix and not base.endswith(f"_{suffix}"):
        base = f"{base}_{suffix}"
    return base


def _labels(attributes: Mapping[str, Any] | None) -> dict[str, str]:
    return {_INVALID.sub("_", k): str(v) for k, v in (attributes or {}).items()}


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(float(value))


class PrometheusBridgeReader(MetricReader):
    """Pull-based reader: every scrape collects the SDK's current cumulative state."""

    def __init__(self) -> None:
        super().__init__(
            preferred_temporality={
                Counter: AggregationTemporality.CUMULATIVE,
                UpDownCounter: AggregationTemporality.CUMULATIVE,
                Histogram: AggregationTemporality.CUMULATIVE,
                ObservableCounter: AggregationTemporality.CUMULATIVE,
            }
        )
        self._latest: MetricsData | None = None
        global _active  # noqa: PLW0603 - the one reader of this process, found by /metrics
        _active = self

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        self._latest = metrics_data

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        global _active  # noqa: PLW0603
        if _active is self:
            _active = None

    def _collect_now(self) -> MetricsData | None:
        self._latest = None
        self.collect()  # synchronously calls _receive_metrics
        return self._latest

    def families(self) -> Iterator[Metric]:
        data = self._collect_now()
        if data is None:
            return
        seen: dict[str, Metric] = {}
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    family = _family(metric, seen)
                    if family is not None:
                        seen[family.name] = family
        yield from seen.values()


def _family(metric: OtelMetric, seen: dict[str, Metric]) -> Metric | None:
    name = prometheus_name(metric.name, metric.unit or "")
    data = metric.data
    if isinstance(data, Sum) and data.is_monotonic:
        name = name.removesuffix("_total")
        family: Metric = seen.get(name) or CounterMetricFamily(name, metric.description or "")
        for point in data.data_points:
            family.add_sample(f"{name}_total", _labels(point.attributes), point.value)
        return family
    if isinstance(data, Sum | Gauge):
        family = seen.get(name) or GaugeMetricFamily(name, metric.description or "")
        for point in data.data_points:
            family.add_sample(name, _labels(point.attributes), point.value)
        return family
    if isinstance(data, HistogramData):
        family = seen.get(name) or Metric(name, metric.description or "", "histogram")
        for hist in data.data_points:
            labels = _labels(hist.attributes)
            buckets = _buckets(hist.explicit_bounds, hist.bucket_counts, hist.exemplars)
            for le, cumulative, exemplar in buckets:
                family.add_sample(
                    f"{name}_bucket", {**labels, "le": le}, cumulative, None, exemplar
                )
            family.add_sample(f"{name}_count", labels, hist.count)
            family.add_sample(f"{name}_sum", labels, hist.sum)
        return family
    return None


def _buckets(
    bounds: Iterable[float], counts: Iterable[int], exemplars: Iterable[Any]
) -> Iterator[tuple[str, int, Exemplar | None]]:
    """Cumulative ``le`` buckets, each with the exemplar the SDK kept for it (if any)."""
    edges = [*bounds, float("inf")]
    by_bucket: dict[int, Exemplar] = {}
    for exemplar in exemplars:
        if exemplar.trace_id:
            index = next(i for i, edge in enumerate(edges) if exemplar.value <= edge)
            by_bucket[index] = Exemplar(
                {"trace_id": format(exemplar.trace_id, "032x")},
                exemplar.value,
                exemplar.time_unix_nano / 1e9,
            )
    cumulative = 0
    for index, (edge, count) in enumerate(zip(edges, counts, strict=False)):
        cumulative += count
        yield _bound(edge), cumulative, by_bucket.get(index)


class _BridgeCollector:
    def collect(self) -> Iterator[Metric]:
        if _active is not None:
            yield from _active.families()


registry = CollectorRegistry(auto_describe=False)
registry.register(_BridgeCollector())


def exposition(accept: str | None) -> tuple[bytes, str]:
    """Body and content type for a scrape; OpenMetrics (with exemplars) when asked for."""
    if accept and "application/openmetrics-text" in accept:
        return openmetrics_latest(registry), OPENMETRICS  # type: ignore[no-untyped-call]
    return text_latest(registry), TEXT
