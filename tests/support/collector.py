"""A real OpenTelemetry Collector for tests, and what it received, as plain Python objects.

The Collector is the project's pinned build (``otelcol`` from tools/go/otelcol, built once by
tools/gotool.py) running ``otel/collector-test.yaml``: OTLP/gRPC and OTLP/HTTP receivers on
free loopback ports, and file exporters writing OTLP JSON lines per signal into a temporary
directory. This module starts it, waits for its health check and parses those files::

    with CollectorProcess(tmp_path).start() as collector:
        env = collector.env()  # OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:PORT, ...
        ...                    # run code that exports telemetry there
        spans = collector.wait_for_spans(lambda s: s.name == "order.create")
        assert spans[0].kind == "SPAN_KIND_INTERNAL"

Every ``spans()``/``logs()``/``metrics()`` call reads what was flushed so far (the exporters
flush every 100 ms); ``clear()`` forgets it, so one session-wide Collector can serve many tests.
Metrics arrive as flat data points (``MetricPoint``): with cumulative temporality each export
repeats every series, so the newest point of a series is the last one in the list.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

import pytest

# protobuf ships no type information (types-protobuf would add a dependency for two calls).
from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.message import Message  # type: ignore[import-untyped]
from k8s.testbed.procs import Process, ProcessError, free_port, http_ok
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from types import TracebackType

    from opentelemetry.proto.common.v1 import common_pb2

REPO = Path(__file__).resolve().parents[2]
TEST_CONFIG = REPO / "otel" / "collector-test.yaml"
CLUSTER_CONFIG = REPO / "otel" / "collector.yaml"
BINARY_ENV = "ORDERFLOW_OTELCOL"  # path of a prebuilt collector, to skip gotool

#: An OTLP ``AnyValue`` decoded: str, bool, int, float, bytes, None, list or dict.
AttrValue: TypeAlias = (
    "str | bool | int | float | bytes | list[AttrValue] | dict[str, AttrValue] | None"
)
Attributes: TypeAlias = dict[str, AttrValue]
FixtureScope: TypeAlias = Literal["session", "package", "module", "class", "function"]
_T = TypeVar("_T")


class CollectorError(ProcessError):
    """The Collector did not start, died, or the awaited telemetry never arrived."""


# --------------------------------------------------------------------------- data objects


@dataclass(frozen=True)
class SpanEvent:
    name: str
    time_unix_nano: int
    attributes: Attributes


@dataclass(frozen=True)
class SpanLink:
    trace_id: str
    span_id: str
    attributes: Attributes


@dataclass(frozen=True)
class Span:
    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    parent_span_id: str | None  # None for a root span
    name: str
    kind: str  # SPAN_KIND_SERVER / CLIENT / PRODUCER / CONSUMER / INTERNAL
    attributes: Attributes
    status_code: str  # STATUS_CODE_UNSET / OK / ERROR
    status_message: str
    resource: Attributes  # resource attributes, service.name among them
    scope: str  # instrumentation scope name
    events: tuple[SpanEvent, ...]
    links: tuple[SpanLink, ...]
    start_time_unix_nano: int
    end_time_unix_nano: int

    @property
    def service_name(self) -> str | None:
        value = self.resource.get("service.name")
        return value if isinstance(value, str) else None

    @property
    def duration_s(self) -> float:
        return (self.end_time_unix_nano - self.start_time_unix_nano) / 1e9


@dataclass(frozen=True)
class LogRecord:
    trace_id: str | None  # None when the record was written outside a span
    span_id: str | None
    body: AttrValue
    severity_text: str  # e.g. "INFO" (as the SDK sent it)
    severity_number: int  # 9 = INFO, 13 = WARN, 17 = ERROR
    attributes: Attributes
    resource: Attributes
    scope: str
    time_unix_nano: int
    observed_time_unix_nano: int
    event_name: str

    @property
    def service_name(self) -> str | None:
        value = self.resource.get("service.name")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Exemplar:
    trace_id: str | None
    span_id: str | None
    value: float | int | None
    attributes: Attributes


@dataclass(frozen=True)
class MetricPoint:
    """One data point of one metric, with its metric's name, unit and type."""

    name: str
    unit: str
    description: str
    type: str  # "sum", "gauge", "histogram", "exponential_histogram" or "summary"
    attributes: Attributes
    resource: Attributes
    scope: str
    time_unix_nano: int
    start_time_unix_nano: int
    temporality: str | None = None  # AGGREGATION_TEMPORALITY_* (sums and histograms)
    monotonic: bool | None = None  # sums only
    value: float | int | None = None  # sums and gauges
    count: int | None = None  # histograms and summaries
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    bucket_counts: tuple[int, ...] = ()  # histograms (len(explicit_bounds) + 1 buckets)
    explicit_bounds: tuple[float, ...] = ()
    exemplars: tuple[Exemplar, ...] = ()

    @property
    def service_name(self) -> str | None:
        value = self.resource.get("service.name")
        return value if isinstance(value, str) else None


# --------------------------------------------------------------------------- OTLP JSON parsing
#
# The file exporter writes each export request as one line of OTLP/JSON. protobuf's json_format
# reads it into the generated OTLP messages (int64 as strings, enums by name or number, bytes
# as base64, unknown fields of newer releases ignored) with one exception OTLP/JSON makes to
# the protobuf mapping: trace and span ids are hex, not base64. ``_ids_to_base64`` turns them
# back before parsing.

_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})


def _ids_to_base64(value: Any) -> Any:
    """A copy of decoded OTLP/JSON with every hex id re-encoded as protobuf JSON wants it."""
    if isinstance(value, list):
        return [_ids_to_base64(item) for item in value]
    if isinstance(value, dict):
        return {
            key: base64.b64encode(bytes.fromhex(item)).decode()
            if key in _ID_FIELDS and isinstance(item, str)
            else _ids_to_base64(item)
            for key, item in value.items()
        }
    return value


_M = TypeVar("_M", bound=Message)


def _parse(request: dict[str, Any], message: type[_M]) -> _M:
    parsed: _M = json_format.ParseDict(
        _ids_to_base64(request), message(), ignore_unknown_fields=True
    )
    return parsed


def any_value(value: common_pb2.AnyValue) -> AttrValue:
    """Decode an OTLP ``AnyValue`` into plain Python (an unset value is None)."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind is None:
        return None
    decoded: AttrValue = getattr(value, kind)
    return decoded


def attributes(items: Iterable[common_pb2.KeyValue]) -> Attributes:
    return {kv.key: any_value(kv.value) for kv in items}


def _id(value: bytes) -> str | None:
    """Ids as lowercase hex; empty (or all zeros) means absent."""
    return value.hex() if value.strip(b"\0") else None


def _number(point: Any) -> float | int | None:
    """The ``value`` oneof of a number data point or exemplar (``as_int``/``as_double``)."""
    kind = point.WhichOneof("value")
    number: float | int | None = getattr(point, kind) if kind else None
    return number


def parse_traces(request: dict[str, Any]) -> list[Span]:
    """Spans of one OTLP/JSON ``ExportTraceServiceRequest`` (one file exporter line)."""
    parsed = _parse(request, trace_service_pb2.ExportTraceServiceRequest)
    return [
        Span(
            trace_id=_id(raw.trace_id) or "",
            span_id=_id(raw.span_id) or "",
            parent_span_id=_id(raw.parent_span_id),
            name=raw.name,
            kind=trace_pb2.Span.SpanKind.Name(raw.kind),
            attributes=attributes(raw.attributes),
            status_code=trace_pb2.Status.StatusCode.Name(raw.status.code),
            status_message=raw.status.message,
            resource=attributes(resource_spans.resource.attributes),
            scope=scope_spans.scope.name,
            events=tuple(
                SpanEvent(
                    name=e.name,
                    time_unix_nano=e.time_unix_nano,
                    attributes=attributes(e.attributes),
                )
                for e in raw.events
            ),
            links=tuple(
                SpanLink(
                    trace_id=_id(link.trace_id) or "",
                    span_id=_id(link.span_id) or "",
                    attributes=attributes(link.attributes),
                )
                for link in raw.links
            ),
            start_time_unix_nano=raw.start_time_unix_nano,
            end_time_unix_nano=raw.end_time_unix_nano,
        )
        for resource_spans in parsed.resource_spans
        for scope_spans in resource_spans.scope_spans
        for raw in scope_spans.spans
    ]


def parse_logs(request: dict[str, Any]) -> list[LogRecord]:
    """Log records of one OTLP/JSON ``ExportLogsServiceRequest``."""
    parsed = _parse(request, logs_service_pb2.ExportLogsServiceRequest)
    return [
        LogRecord(
            trace_id=_id(raw.trace_id),
            span_id=_id(raw.span_id),
            body=any_value(raw.body),
            severity_text=raw.severity_text,
            severity_number=raw.severity_number,
            attributes=attributes(raw.attributes),
            resource=attributes(resource_logs.resource.attributes),
            scope=scope_logs.scope.name,
            time_unix_nano=raw.time_unix_nano,
            observed_time_unix_nano=raw.observed_time_unix_nano,
            event_name=raw.event_name,
        )
        for resource_logs in parsed.resource_logs
        for scope_logs in resource_logs.scope_logs
        for raw in scope_logs.log_records
    ]


def _exemplars(point: Any) -> tuple[Exemplar, ...]:
    return tuple(
        Exemplar(
            trace_id=_id(e.trace_id),
            span_id=_id(e.span_id),
            value=_number(e),
            attributes=attributes(e.filtered_attributes),
        )
        for e in getattr(point, "exemplars", ())
    )


def _optional(point: Any, name: str) -> float | None:
    """A field that may be absent: proto3 ``optional`` fields (histogram sum, min, max)."""
    if name not in type(point).DESCRIPTOR.fields_by_name:
        return None
    field_descriptor = type(point).DESCRIPTOR.fields_by_name[name]
    if field_descriptor.has_presence and not point.HasField(name):
        return None
    number: float = getattr(point, name)
    return number


def _point(
    metric: metrics_pb2.Metric, kind: str, data: Any, raw: Any, resource: Attributes, scope: str
) -> MetricPoint:
    counted = kind in {"histogram", "exponential_histogram", "summary"}
    return MetricPoint(
        name=metric.name,
        unit=metric.unit,
        description=metric.description,
        type=kind,
        attributes=attributes(raw.attributes),
        resource=resource,
        scope=scope,
        time_unix_nano=raw.time_unix_nano,
        start_time_unix_nano=raw.start_time_unix_nano,
        temporality=metrics_pb2.AggregationTemporality.Name(data.aggregation_temporality)
        if kind in {"sum", "histogram", "exponential_histogram"}
        else None,
        monotonic=data.is_monotonic if kind == "sum" else None,
        value=_number(raw) if kind in {"sum", "gauge"} else None,
        count=raw.count if counted else None,
        sum=_optional(raw, "sum") if counted else None,
        min=_optional(raw, "min"),
        max=_optional(raw, "max"),
        bucket_counts=tuple(raw.bucket_counts) if kind == "histogram" else (),
        explicit_bounds=tuple(raw.explicit_bounds) if kind == "histogram" else (),
        exemplars=_exemplars(raw),
    )


def parse_metrics(request: dict[str, Any]) -> list[MetricPoint]:
    """Data points of one OTLP/JSON ``ExportMetricsServiceRequest``, flattened."""
    parsed = _parse(request, metrics_service_pb2.ExportMetricsServiceRequest)
    points: list[MetricPoint] = []
    for resource_metrics in parsed.resource_metrics:
        resource = attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:  # a metric type this parser does not know
                    continue
                data = getattr(metric, kind)
                points.extend(
                    _point(metric, kind, data, raw, resource, scope_metrics.scope.name)
                    for raw in data.data_points
                )
    return points


@dataclass
class _JsonLines:
    """Incremental reader of one file exporter output: complete lines only."""

    path: Path
    offset: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def read(self) -> list[dict[str, Any]]:
        if self.path.exists():
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
            end = chunk.rfind(b"\n") + 1  # a line being flushed is read next time
            for line in chunk[:end].splitlines():
                if line.strip():
                    self.requests.append(json.loads(line))
            self.offset += end
        return self.requests

    def clear(self) -> None:
        self.read()
        self.requests = []


# --------------------------------------------------------------------------- the process


@functools.cache
def _gotool() -> Any:
    """tools/gotool.py, loaded by path (a stdlib-only script, not an installed package)."""
    spec = importlib.util.spec_from_file_location("orderflow_gotool", REPO / "tools" / "gotool.py")
    if spec is None or spec.loader is None:
        raise ImportError("tools/gotool.py not found")
    module = sys.modules.get("orderflow_gotool")
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules["orderflow_gotool"] = module
        spec.loader.exec_module(module)
    return module


def collector_binary() -> Path:
    """The pinned ``otelcol`` (built on first use, ~minutes cold; then a no-op).

    ``$ORDERFLOW_OTELCOL`` names a prebuilt binary instead.
    """
    override = os.environ.get(BINARY_ENV)
    if override:
        return Path(override)
    return Path(_gotool().ensure(["otelcol"])["otelcol"])


def validate_config(
    config: Path, env: dict[str, str] | None = None, binary: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``otelcol validate --config CONFIG`` (returns the result; check ``returncode``)."""
    return subprocess.run(
        [str(binary or collector_binary()), "validate", f"--config={config}"],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class CollectorProcess:
    """The pinned Collector on free loopback ports, writing what it receives to ``workdir``.

    ``workdir`` gets ``traces.jsonl``, ``metrics.jsonl``, ``logs.jsonl`` and
    ``collector.log`` (the Collector's own output, shown in every error).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        config: Path = TEST_CONFIG,
        binary: Path | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.workdir = workdir
        self.config = config
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.grpc_port = 0
        self.http_port = 0
        self.health_port = 0
        self.log_path = workdir / "collector.log"
        self._process: Process | None = None
        self._traces = _JsonLines(workdir / "traces.jsonl")
        self._metrics = _JsonLines(workdir / "metrics.jsonl")
        self._logs = _JsonLines(workdir / "logs.jsonl")

    # ---- lifecycle

    def start(self) -> CollectorProcess:
        """Start and wait until the health check answers 200 (retries on a port clash)."""
        if self.running:
            return self
        binary = self.binary or collector_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        last_error: CollectorError | None = None
        for _attempt in range(3):
            self.grpc_port, self.http_port, self.health_port = free_port(), free_port(), free_port()
            self._process = Process(
                [str(binary), f"--config={self.config}"],
                self.log_path,
                {
                    "OTELCOL_TEST_GRPC_ENDPOINT": f"127.0.0.1:{self.grpc_port}",
                    "OTELCOL_TEST_HTTP_ENDPOINT": f"127.0.0.1:{self.http_port}",
                    "OTELCOL_TEST_HEALTH_ENDPOINT": f"127.0.0.1:{self.health_port}",
                    "OTELCOL_TEST_OUT_DIR": str(self.workdir),
                },
                # SIGTERM when pytest dies: a killed session leaves no Collector behind.
                parent_death_signal=signal.SIGTERM,
                stop_timeout=10.0,
            )
            try:
                self._process.start(
                    http_ok(f"http://127.0.0.1:{self.health_port}/"),
                    timeout=self.startup_timeout,
                    error=CollectorError,
                )
            except CollectorError as exc:
                self.stop()
                last_error = exc
                if "address already in use" not in self.log():
                    raise
                continue
            return self
        assert last_error is not None
        raise last_error

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the file exporters flush on shutdown), then SIGKILL after ``timeout``."""
        process, self._process = self._process, None
        if process is not None:
            process.stop(timeout=timeout)

    def __enter__(self) -> CollectorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def log(self) -> str:
        """The Collector's own log output so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # ---- where to send telemetry

    @property
    def otlp_http_endpoint(self) -> str:
        """Base URL of the OTLP/HTTP receiver (the SDK appends /v1/traces etc.)."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def otlp_grpc_endpoint(self) -> str:
        """URL of the OTLP/gRPC receiver (``http://`` = plaintext)."""
        return f"http://127.0.0.1:{self.grpc_port}"

    def env(self, protocol: str = "http/protobuf") -> dict[str, str]:
        """``OTEL_EXPORTER_OTLP_*`` variables that point an SDK (or ``opentelemetry-instrument``)
        at this Collector."""
        grpc = protocol == "grpc"
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_grpc_endpoint
            if grpc
            else self.otlp_http_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
        }

    # ---- what arrived

    def spans(self) -> list[Span]:
        return [s for r in self._traces.read() for s in parse_traces(r)]

    def logs(self) -> list[LogRecord]:
        return [rec for r in self._logs.read() for rec in parse_logs(r)]

    def metrics(self) -> list[MetricPoint]:
        return [p for r in self._metrics.read() for p in parse_metrics(r)]

    def trace(self, trace_id: str) -> list[Span]:
        """Every span of one trace, in arrival order."""
        return [s for s in self.spans() if s.trace_id == trace_id.lower()]

    def clear(self) -> None:
        """Forget everything received so far (later reads return only newer telemetry)."""
        self._traces.clear()
        self._metrics.clear()
        self._logs.clear()

    def wait_for_spans(
        self,
        predicate: Callable[[Span], bool] = lambda _: True,
        timeout: float = 10.0,
        count: int = 1,
    ) -> list[Span]:
        """Wait until at least ``count`` spans match; return every match."""
        return self._wait(self.spans, predicate, timeout, count, "spans")

    def wait_for_logs(
        self,
        predicate: Callable[[LogRecord], bool] = lambda _: True,
        timeout: float = 10.0,
        count: int = 1,
    ) -> list[LogRecord]:
        return self._wait(self.logs, predicate, timeout, count, "log records")

    def wait_for_metrics(
        self,
        predicate: Callable[[MetricPoint], bool] = lambda _: True,
        timeout: float = 10.0,
        count: int = 1,
    ) -> list[MetricPoint]:
        return self._wait(self.metrics, predicate, timeout, count, "metric points")

    def wait_for_metric(
        self, name: str, attributes: Attributes | None = None, timeout: float = 10.0
    ) -> list[MetricPoint]:
        """Points of metric ``name`` whose attributes include ``attributes``."""
        wanted = (attributes or {}).items()
        return self.wait_for_metrics(
            lambda p: p.name == name and all(p.attributes.get(k) == v for k, v in wanted),
            timeout=timeout,
        )

    def _wait(
        self,
        read: Callable[[], list[_T]],
        predicate: Callable[[_T], bool],
        timeout: float,
        count: int,
        what: str,
    ) -> list[_T]:
        deadline = time.monotonic() + timeout
        while True:
            found = [item for item in read() if predicate(item)]
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                seen = read()
                raise CollectorError(
                    f"{len(found)} of {count} expected {what} after {timeout}s "
                    f"({len(seen)} received){'' if self.running else '; collector died'}:\n"
                    + "\n".join(repr(item) for item in seen[-20:])
                    + f"\n--- collector log ---\n{self.log()[-4000:]}"
                )
            time.sleep(0.05)


# --------------------------------------------------------------------------- pytest


def collector_fixture(
    scope: FixtureScope = "session", name: str = "otel_collector"
) -> Callable[..., Iterator[CollectorProcess]]:
    """A pytest fixture starting one Collector (default: one per session / xdist worker).

    In a conftest.py: ``otel_collector = collector_fixture()``; tests take ``otel_collector``
    and may call ``otel_collector.clear()`` first when they share it.
    """

    @pytest.fixture(scope=scope, name=name)
    def _collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
        collector = CollectorProcess(tmp_path_factory.mktemp("otelcol")).start()
        try:
            yield collector
        finally:
            collector.stop()

    return _collector
