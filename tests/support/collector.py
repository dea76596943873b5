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
import contextlib
import ctypes
import functools
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import TracebackType

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

SPAN_KINDS = (
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
)
STATUS_CODES = ("STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR")
TEMPORALITIES = (
    "AGGREGATION_TEMPORALITY_UNSPECIFIED",
    "AGGREGATION_TEMPORALITY_DELTA",
    "AGGREGATION_TEMPORALITY_CUMULATIVE",
)


class CollectorError(RuntimeError):
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


def any_value(value: dict[str, Any] | None) -> AttrValue:
    """Decode an OTLP/JSON ``AnyValue`` (int64 arrive as strings, bytes as base64)."""
    decoded: AttrValue = None
    if not value:
        pass
    elif "stringValue" in value:
        decoded = str(value["stringValue"])
    elif "boolValue" in value:
        decoded = bool(value["boolValue"])
    elif "intValue" in value:
        decoded = int(value["intValue"])
    elif "doubleValue" in value:
        decoded = float(value["doubleValue"])
    elif "bytesValue" in value:
        decoded = base64.b64decode(value["bytesValue"])
    elif "arrayValue" in value:
        decoded = [any_value(v) for v in value["arrayValue"].get("values", [])]
    elif "kvlistValue" in value:
        decoded = attributes(value["kvlistValue"].get("values"))
    return decoded


def attributes(items: list[dict[str, Any]] | None) -> Attributes:
    return {str(kv["key"]): any_value(kv.get("value")) for kv in items or []}


def _id(value: str | None) -> str | None:
    """OTLP/JSON ids are hex strings; empty (or all zeros) means absent."""
    if not value or not value.strip("0"):
        return None
    return value.lower()


def _enum(table: tuple[str, ...], value: int | str | None) -> str:
    if isinstance(value, str) and not value.isdigit():
        return value  # already the enum name
    index = int(value or 0)
    return table[index] if 0 <= index < len(table) else str(index)


def _number(point: dict[str, Any]) -> float | int | None:
    if "asInt" in point:
        return int(point["asInt"])
    if "asDouble" in point:
        return float(point["asDouble"])
    return None


def _opt_float(point: dict[str, Any], key: str) -> float | None:
    return float(point[key]) if key in point else None


def parse_traces(request: dict[str, Any]) -> list[Span]:
    """Spans of one OTLP/JSON ``ExportTraceServiceRequest`` (one file exporter line)."""
    spans: list[Span] = []
    for resource_spans in request.get("resourceSpans", []):
        resource = attributes(resource_spans.get("resource", {}).get("attributes"))
        for scope_spans in resource_spans.get("scopeSpans", []):
            scope = str(scope_spans.get("scope", {}).get("name", ""))
            for raw in scope_spans.get("spans", []):
                status = raw.get("status", {})
                spans.append(
                    Span(
                        trace_id=_id(raw.get("traceId")) or "",
                        span_id=_id(raw.get("spanId")) or "",
                        parent_span_id=_id(raw.get("parentSpanId")),
                        name=str(raw.get("name", "")),
                        kind=_enum(SPAN_KINDS, raw.get("kind")),
                        attributes=attributes(raw.get("attributes")),
                        status_code=_enum(STATUS_CODES, status.get("code")),
                        status_message=str(status.get("message", "")),
                        resource=resource,
                        scope=scope,
                        events=tuple(
                            SpanEvent(
                                name=str(e.get("name", "")),
                                time_unix_nano=int(e.get("timeUnixNano", 0)),
                                attributes=attributes(e.get("attributes")),
                            )
                            for e in raw.get("events", [])
                        ),
                        links=tuple(
                            SpanLink(
                                trace_id=_id(link.get("traceId")) or "",
                                span_id=_id(link.get("spanId")) or "",
                                attributes=attributes(link.get("attributes")),
                            )
                            for link in raw.get("links", [])
                        ),
                        start_time_unix_nano=int(raw.get("startTimeUnixNano", 0)),
                        end_time_unix_nano=int(raw.get("endTimeUnixNano", 0)),
                    )
                )
    return spans


def parse_logs(request: dict[str, Any]) -> list[LogRecord]:
    """Log records of one OTLP/JSON ``ExportLogsServiceRequest``."""
    records: list[LogRecord] = []
    for resource_logs in request.get("resourceLogs", []):
        resource = attributes(resource_logs.get("resource", {}).get("attributes"))
        for scope_logs in resource_logs.get("scopeLogs", []):
            scope = str(scope_logs.get("scope", {}).get("name", ""))
            for raw in scope_logs.get("logRecords", []):
                records.append(
                    LogRecord(
                        trace_id=_id(raw.get("traceId")),
                        span_id=_id(raw.get("spanId")),
                        body=any_value(raw.get("body")),
                        severity_text=str(raw.get("severityText", "")),
                        severity_number=int(raw.get("severityNumber", 0)),
                        attributes=attributes(raw.get("attributes")),
                        resource=resource,
                        scope=scope,
                        time_unix_nano=int(raw.get("timeUnixNano", 0)),
                        observed_time_unix_nano=int(raw.get("observedTimeUnixNano", 0)),
                        event_name=str(raw.get("eventName", "")),
                    )
                )
    return records


_METRIC_TYPES = {
    "sum": "sum",
    "gauge": "gauge",
    "histogram": "histogram",
    "exponentialHistogram": "exponential_histogram",
    "summary": "summary",
}


def _exemplars(point: dict[str, Any]) -> tuple[Exemplar, ...]:
    return tuple(
        Exemplar(
            trace_id=_id(e.get("traceId")),
            span_id=_id(e.get("spanId")),
            value=_number(e),
            attributes=attributes(e.get("filteredAttributes")),
        )
        for e in point.get("exemplars", [])
    )


def parse_metrics(request: dict[str, Any]) -> list[MetricPoint]:
    """Data points of one OTLP/JSON ``ExportMetricsServiceRequest``, flattened."""
    points: list[MetricPoint] = []
    for resource_metrics in request.get("resourceMetrics", []):
        resource = attributes(resource_metrics.get("resource", {}).get("attributes"))
        for scope_metrics in resource_metrics.get("scopeMetrics", []):
            scope = str(scope_metrics.get("scope", {}).get("name", ""))
            for metric in scope_metrics.get("metrics", []):
                key = next((k for k in _METRIC_TYPES if k in metric), None)
                if key is None:
                    continue
                data: dict[str, Any] = metric[key]
                kind = _METRIC_TYPES[key]
                temporality = (
                    _enum(TEMPORALITIES, data["aggregationTemporality"])
                    if "aggregationTemporality" in data
                    else None
                )
                for raw in data.get("dataPoints", []):
                    points.append(
                        MetricPoint(
                            name=str(metric.get("name", "")),
                            unit=str(metric.get("unit", "")),
                            description=str(metric.get("description", "")),
                            type=kind,
                            attributes=attributes(raw.get("attributes")),
                            resource=resource,
                            scope=scope,
                            time_unix_nano=int(raw.get("timeUnixNano", 0)),
                            start_time_unix_nano=int(raw.get("startTimeUnixNano", 0)),
                            temporality=temporality,
                            monotonic=bool(data.get("isMonotonic", False))
                            if kind == "sum"
                            else None,
                            value=_number(raw),
                            count=int(raw["count"]) if "count" in raw else None,
                            sum=_opt_float(raw, "sum"),
                            min=_opt_float(raw, "min"),
                            max=_opt_float(raw, "max"),
                            bucket_counts=tuple(int(c) for c in raw.get("bucketCounts", [])),
                            explicit_bounds=tuple(float(b) for b in raw.get("explicitBounds", [])),
                            exemplars=_exemplars(raw),
                        )
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


def _die_with_parent() -> None:
    # Runs in the child before exec (prctl only, no locks: safe after fork): the kernel sends
    # SIGTERM when pytest dies, so a killed session leaves no Collector behind.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        self._process: subprocess.Popen[bytes] | None = None
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
            env = {
                **os.environ,
                "OTELCOL_TEST_GRPC_ENDPOINT": f"127.0.0.1:{self.grpc_port}",
                "OTELCOL_TEST_HTTP_ENDPOINT": f"127.0.0.1:{self.http_port}",
                "OTELCOL_TEST_HEALTH_ENDPOINT": f"127.0.0.1:{self.health_port}",
                "OTELCOL_TEST_OUT_DIR": str(self.workdir),
            }
            with self.log_path.open("ab") as log:
                self._process = subprocess.Popen(
                    [str(binary), f"--config={self.config}"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C of pytest does not race our stop()
                    preexec_fn=_die_with_parent,  # noqa: PLW1509
                )
            try:
                self._wait_healthy()
            except CollectorError as exc:
                self.stop()
                last_error = exc
                if "address already in use" not in self.log():
                    raise
                continue
            return self
        assert last_error is not None
        raise last_error

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        url = f"http://127.0.0.1:{self.health_port}/"
        while time.monotonic() < deadline:
            if not self.running:
                raise CollectorError(f"collector exited at start-up:\n{self.log()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
            time.sleep(0.1)
        raise CollectorError(f"collector not healthy after {self.startup_timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the file exporters flush on shutdown), then SIGKILL after ``timeout``."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

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
        return self._process is not None and self._process.poll() is None

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
