"""The pinned Collector build, its configurations and tests/support/collector.py.

Telemetry goes from the real Python SDK over OTLP/HTTP into the real Collector, which writes
it with the file exporter; the helper must give back exactly what was sent.
"""

from __future__ import annotations

import re
import socket
import subprocess
import uuid
from typing import TYPE_CHECKING

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from tests.support.collector import (
    CLUSTER_CONFIG,
    REPO,
    TEST_CONFIG,
    CollectorError,
    CollectorProcess,
    collector_binary,
    parse_logs,
    parse_metrics,
    parse_traces,
    validate_config,
)

if TYPE_CHECKING:
    from pathlib import Path

PINNED = "0.161.0"


def _resource(test: str) -> Resource:
    # A unique service.instance.id per test: the Collector is shared by the module.
    return Resource.create(
        {
            "service.name": "collector-test",
            "service.instance.id": f"{test}-{uuid.uuid4().hex[:8]}",
            "deployment.environment.name": "test",
        }
    )


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


# --------------------------------------------------------------------------- round trips


def test_spans_round_trip(otel_collector: CollectorProcess) -> None:
    resource = _resource("spans")
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(
        SimpleSpanProcessor(
            OTLPSpanExporter(endpoint=f"{otel_collector.otlp_http_endpoint}/v1/traces")
        )
    )
    tracer = provider.get_tracer("tests.otel")
    with tracer.start_as_current_span(
        "POST /api/orders",
        kind=SpanKind.SERVER,
        attributes={"http.route": "/api/orders", "http.response.status_code": 201},
    ) as server:
        with tracer.start_as_current_span(
            "orders publish",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "dramatiq",
                "messaging.batch.message_count": 1,
                "ratio": 0.5,
                "retry": False,
                "tags": ["a", "b"],
            },
        ) as producer:
            producer.add_event("enqueued", {"queue": "orders"})
            producer.set_status(Status(StatusCode.ERROR, "broker down"))
        consumer = tracer.start_span(
            "orders process", kind=SpanKind.CONSUMER, context=set_span_in_context(producer)
        )
        consumer.end()
        tracer.start_span("payment.charge", kind=SpanKind.CLIENT).end()
    provider.shutdown()

    trace_id = _hex(server.get_span_context().trace_id, 32)
    spans = otel_collector.wait_for_spans(lambda s: s.trace_id == trace_id, count=4)
    by_name = {s.name: s for s in spans}
    assert len(spans) == 4, spans
    root = by_name["POST /api/orders"]
    sent = by_name["orders publish"]
    got = by_name["orders process"]
    charge = by_name["payment.charge"]

    assert re.fullmatch(r"[0-9a-f]{32}", root.trace_id)
    assert root.span_id == _hex(server.get_span_context().span_id, 16)
    assert root.parent_span_id is None
    assert root.kind == "SPAN_KIND_SERVER"
    assert root.attributes == {"http.route": "/api/orders", "http.response.status_code": 201}
    assert root.status_code == "STATUS_CODE_UNSET"
    assert root.resource["service.name"] == "collector-test"
    assert root.service_name == "collector-test"
    assert root.resource["service.instance.id"] == resource.attributes["service.instance.id"]
    assert root.resource["telemetry.sdk.language"] == "python"
    assert root.scope == "tests.otel"
    assert root.end_time_unix_nano >= root.start_time_unix_nano > 0

    assert sent.span_id == _hex(producer.get_span_context().span_id, 16)
    assert sent.parent_span_id == root.span_id
    assert sent.kind == "SPAN_KIND_PRODUCER"
    assert sent.attributes == {
        "messaging.system": "dramatiq",
        "messaging.batch.message_count": 1,
        "ratio": 0.5,
        "retry": False,
        "tags": ["a", "b"],
    }
    assert sent.status_code == "STATUS_CODE_ERROR"
    assert sent.status_message == "broker down"
    assert [(e.name, e.attributes) for e in sent.events] == [("enqueued", {"queue": "orders"})]

    assert got.kind == "SPAN_KIND_CONSUMER"
    assert got.parent_span_id == sent.span_id
    assert charge.kind == "SPAN_KIND_CLIENT"
    assert charge.parent_span_id == root.span_id
    assert otel_collector.trace(trace_id.upper()) == spans


def test_logs_round_trip(otel_collector: CollectorProcess) -> None:
    provider = LoggerProvider(resource=_resource("logs"))
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(
            OTLPLogExporter(endpoint=f"{otel_collector.otlp_http_endpoint}/v1/logs")
        )
    )
    logger = provider.get_logger("tests.otel.logs")
    tracer_provider = TracerProvider(resource=_resource("logs"))
    marker = uuid.uuid4().hex
    with tracer_provider.get_tracer("tests.otel").start_as_current_span("request") as span:
        logger.emit(
            severity_number=SeverityNumber.WARN,
            severity_text="WARNING",
            body=f"order rejected {marker}",
            attributes={"order.id": 42, "reason": "oversell"},
        )
    logger.emit(severity_number=SeverityNumber.INFO, severity_text="INFO", body={"k": marker})
    provider.shutdown()
    tracer_provider.shutdown()

    records = otel_collector.wait_for_logs(lambda r: marker in str(r.body), count=2)
    inside, outside = sorted(records, key=lambda r: r.trace_id is None)
    ctx = span.get_span_context()
    assert inside.trace_id == _hex(ctx.trace_id, 32)
    assert inside.span_id == _hex(ctx.span_id, 16)
    assert inside.body == f"order rejected {marker}"
    assert inside.severity_text == "WARNING"
    assert inside.severity_number == SeverityNumber.WARN.value
    assert inside.attributes == {"order.id": 42, "reason": "oversell"}
    assert inside.resource["service.name"] == "collector-test"
    assert inside.scope == "tests.otel.logs"
    assert outside.trace_id is None
    assert outside.span_id is None
    assert outside.body == {"k": marker}
    assert outside.severity_number == SeverityNumber.INFO.value


def test_metrics_round_trip(otel_collector: CollectorProcess) -> None:
    resource = _resource("metrics")
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{otel_collector.otlp_http_endpoint}/v1/metrics"),
        export_interval_millis=3_600_000,  # exports only on force_flush/shutdown
    )
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter("tests.otel.metrics")
    requests = meter.create_counter("test.requests", unit="{request}", description="requests")
    duration = meter.create_histogram("test.duration", unit="s")
    active = meter.create_up_down_counter("test.active", unit="{request}")
    requests.add(2, {"http.route": "/api/orders", "http.response.status_code": 201})
    requests.add(1, {"http.route": "/api/orders", "http.response.status_code": 201})
    requests.add(1, {"http.route": "/api/users", "http.response.status_code": 409})
    duration.record(0.02, {"http.route": "/api/orders"})
    duration.record(0.3, {"http.route": "/api/orders"})
    active.add(3)
    active.add(-1)
    provider.shutdown()

    instance = resource.attributes["service.instance.id"]
    points = otel_collector.wait_for_metrics(
        lambda p: p.resource.get("service.instance.id") == instance, count=4
    )
    orders = otel_collector.wait_for_metric("test.requests", {"http.route": "/api/orders"})
    assert [p.value for p in orders if p.resource["service.instance.id"] == instance] == [3]
    counter = next(p for p in points if p.name == "test.requests" and p.value == 3)
    assert counter.type == "sum"
    assert counter.monotonic is True
    assert counter.temporality == "AGGREGATION_TEMPORALITY_CUMULATIVE"
    assert counter.unit == "{request}"
    assert counter.description == "requests"
    assert counter.attributes == {"http.route": "/api/orders", "http.response.status_code": 201}
    assert counter.resource["service.name"] == "collector-test"
    assert counter.scope == "tests.otel.metrics"
    users = next(p for p in points if p.name == "test.requests" and p.value != 3)
    assert (users.value, users.attributes["http.response.status_code"]) == (1, 409)

    (histogram,) = [p for p in points if p.name == "test.duration"]
    assert histogram.type == "histogram"
    assert histogram.unit == "s"
    assert histogram.count == 2
    assert histogram.sum == pytest.approx(0.32)
    assert histogram.min == pytest.approx(0.02)
    assert histogram.max == pytest.approx(0.3)
    assert len(histogram.bucket_counts) == len(histogram.explicit_bounds) + 1
    assert sum(histogram.bucket_counts) == 2
    assert histogram.attributes == {"http.route": "/api/orders"}

    (gauge_like,) = [p for p in points if p.name == "test.active"]
    assert (gauge_like.type, gauge_like.monotonic, gauge_like.value) == ("sum", False, 2)


def test_clear_forgets_what_was_read(otel_collector: CollectorProcess) -> None:
    provider = TracerProvider(resource=_resource("clear"))
    provider.add_span_processor(
        SimpleSpanProcessor(
            OTLPSpanExporter(endpoint=f"{otel_collector.otlp_http_endpoint}/v1/traces")
        )
    )
    tracer = provider.get_tracer("tests.otel")
    tracer.start_span("before-clear").end()
    provider.force_flush()
    otel_collector.wait_for_spans(lambda s: s.name == "before-clear")
    otel_collector.clear()
    assert otel_collector.spans() == []
    tracer.start_span("after-clear").end()
    provider.shutdown()
    assert [s.name for s in otel_collector.wait_for_spans()] == ["after-clear"]


def test_wait_fails_with_the_collector_log(otel_collector: CollectorProcess) -> None:
    with pytest.raises(CollectorError, match="0 of 1 expected spans") as info:
        otel_collector.wait_for_spans(lambda s: s.name == "never-sent", timeout=0.3)
    assert "collector log" in str(info.value)


def test_grpc_receiver_listens(otel_collector: CollectorProcess) -> None:
    # No gRPC exporter is installed in the venv; at least the port must accept connections.
    assert otel_collector.otlp_grpc_endpoint == f"http://127.0.0.1:{otel_collector.grpc_port}"
    with socket.create_connection(("127.0.0.1", otel_collector.grpc_port), timeout=2):
        pass
    assert otel_collector.env()["OTEL_EXPORTER_OTLP_ENDPOINT"] == otel_collector.otlp_http_endpoint
    assert otel_collector.env("grpc")["OTEL_EXPORTER_OTLP_ENDPOINT"] == (
        otel_collector.otlp_grpc_endpoint
    )


def test_stop_flushes_and_is_idempotent(tmp_path: Path) -> None:
    collector = CollectorProcess(tmp_path).start()
    assert collector.pid is not None
    provider = TracerProvider(resource=_resource("stop"))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.otlp_http_endpoint}/v1/traces"))
    )
    provider.get_tracer("tests.otel").start_span("last words").end()
    provider.shutdown()
    collector.stop()
    collector.stop()
    assert not collector.running
    assert [s.name for s in collector.spans()] == ["last words"]
    assert "Everything is ready" in collector.log()


def test_start_fails_loudly_on_a_broken_config(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(TEST_CONFIG.read_text().replace("file/logs]", "nosuchexporter]"))
    with pytest.raises(CollectorError, match="exited at start-up"):
        CollectorProcess(tmp_path / "run", config=broken).start()


# --------------------------------------------------------------------------- build and configs


def test_binary_is_the_pinned_build_with_the_manifest_components() -> None:
    binary = collector_binary()
    version = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, check=True, timeout=30
    )
    assert PINNED in version.stdout
    components = subprocess.run(
        [str(binary), "components"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    for name in [
        "otlp",
        "prometheus",
        "batch",
        "memory_limiter",
        "resource",
        "attributes",
        "otlp_grpc",
        "otlp_http",
        "debug",
        "file",
        "prometheus_remote_write",
        "health_check",
        "zpages",
    ]:
        assert re.search(rf"^\s*- name: {name}$", components, re.MULTILINE), name
    # Every component module of the manifest is at the one pinned release.
    manifest = (REPO / "otel" / "builder-config.yaml").read_text()
    versions = set(re.findall(r"^\s*- gomod: \S+ (v\S+)$", manifest, re.MULTILINE))
    assert versions == {f"v{PINNED}", "v1.67.0"}


def test_cluster_config_validates() -> None:
    result = validate_config(CLUSTER_CONFIG, env={"LGTM_OTLP_ENDPOINT": "lgtm.observability:4317"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_cluster_config_requires_the_lgtm_endpoint() -> None:
    result = validate_config(CLUSTER_CONFIG, env={"LGTM_OTLP_ENDPOINT": ""})
    assert result.returncode != 0
    assert "endpoint" in (result.stdout + result.stderr)


def test_test_config_validates(tmp_path: Path) -> None:
    env = {
        "OTELCOL_TEST_GRPC_ENDPOINT": "127.0.0.1:14317",
        "OTELCOL_TEST_HTTP_ENDPOINT": "127.0.0.1:14318",
        "OTELCOL_TEST_HEALTH_ENDPOINT": "127.0.0.1:13133",
        "OTELCOL_TEST_OUT_DIR": str(tmp_path),
    }
    result = validate_config(TEST_CONFIG, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(TEST_CONFIG.read_text().replace("timeout: 50ms", "timeout: soon"))
    assert validate_config(broken, env=env).returncode != 0


# --------------------------------------------------------------------------- parsers


def test_parsers_decode_otlp_json() -> None:
    (span,) = parse_traces(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "a"}}]
                    },
                    "scopeSpans": [
                        {
                            "scope": {"name": "s"},
                            "spans": [
                                {
                                    "traceId": "0AF7651916CD43DD8448EB211C80319C",
                                    "spanId": "b7ad6b7169203331",
                                    "parentSpanId": "",
                                    "name": "n",
                                    "kind": 5,
                                    "attributes": [
                                        {"key": "i", "value": {"intValue": "9007199254740993"}},
                                        {"key": "b", "value": {"bytesValue": "aGk="}},
                                        {
                                            "key": "m",
                                            "value": {
                                                "kvlistValue": {
                                                    "values": [
                                                        {"key": "x", "value": {"doubleValue": 1.5}}
                                                    ]
                                                }
                                            },
                                        },
                                        {"key": "empty", "value": {}},
                                    ],
                                    "status": {"code": 2},
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )
    assert span.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent_span_id is None
    assert span.kind == "SPAN_KIND_CONSUMER"
    assert span.status_code == "STATUS_CODE_ERROR"
    assert span.attributes == {"i": 9007199254740993, "b": b"hi", "m": {"x": 1.5}, "empty": None}
    assert span.service_name == "a"

    (record,) = parse_logs(
        {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"spanId": "0000000000000000"}]}]}]}
    )
    assert (record.trace_id, record.span_id, record.body, record.service_name) == (
        None,
        None,
        None,
        None,
    )

    (point,) = parse_metrics(
        {
            "resourceMetrics": [
                {
                    "scopeMetrics": [
                        {
                            "metrics": [
                                {
                                    "name": "g",
                                    "gauge": {"dataPoints": [{"asDouble": 0.25}]},
                                },
                                {"name": "unknown-type"},
                            ]
                        }
                    ]
                }
            ]
        }
    )
    assert (point.name, point.type, point.value, point.temporality, point.monotonic) == (
        "g",
        "gauge",
        0.25,
        None,
        None,
    )
