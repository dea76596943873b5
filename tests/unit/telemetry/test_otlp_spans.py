"""The lean OTLP span encoder writes what the upstream encoder writes, for every span shape."""

from __future__ import annotations

import math
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from orderflow.telemetry.otlp_spans import LeanSpanEncoder, _attribute_dict

ATTRIBUTES: dict[str, Any] = {
    "http.request.method": "GET",
    "url.path": "/api/articles/ünïcode-slug",
    "server.port": 8080,
    "negative": -5,
    "large": 2**62,
    "too.large": 2**70,  # not an int64: upstream logs and drops it
    "ok": True,
    "not.ok": False,
    "ratio": 0.25,
    "nan": math.nan,
    "empty": "",
    "zero": 0,
    "names": ("a", "b"),
    "numbers": (1, 2, 3),
    "mixed": ("a", 1, 2.5, True),
    "no.items": (),
    "raw": b"\x00\x01",
    "long": "x" * 300,
}


def _spans() -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    spans: list[ReadableSpan] = []
    for service in ("orderflow-api", "other"):
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        http = provider.get_tracer("orderflow.http")
        sql = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", "0.66b1")
        with http.start_as_current_span("GET", kind=SpanKind.SERVER, attributes=ATTRIBUTES) as root:
            root.update_name("GET /api/articles/{slug}")
            with sql.start_as_current_span("SELECT orderflow", kind=SpanKind.CLIENT) as query:
                query.set_attribute("db.statement", "SELECT 1")
            with http.start_as_current_span("failed") as failed:
                failed.set_status(Status(StatusCode.ERROR, "boom"))
            with http.start_as_current_span("raised") as raised:
                raised.record_exception(ValueError("broken"), {"extra": 1})
            with http.start_as_current_span("ok") as ok:
                ok.set_status(Status(StatusCode.OK))
        remote = SpanContext(
            trace_id=0x0AF7651916CD43DD8448EB211C80319C,
            span_id=0xB7AD6B7169203331,
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
            trace_state=TraceState([("vendor", "value")]),
        )
        parent = set_span_in_context(NonRecordingSpan(remote))
        with http.start_as_current_span("consumer", context=parent, kind=SpanKind.CONSUMER):
            pass
        with http.start_as_current_span("linked", links=[Link(remote, {"k": "v"})]):
            pass
        with http.start_as_current_span(""):
            pass
        spans.extend(exporter.get_finished_spans())
        exporter.clear()
    return spans


@pytest.fixture(scope="module")
def spans() -> list[ReadableSpan]:
    return _spans()


def test_same_message_as_the_upstream_encoder(spans: list[ReadableSpan]) -> None:
    encoder = LeanSpanEncoder()
    for _ in range(2):  # the second time from the attribute table
        ours = ExportTraceServiceRequest.FromString(encoder.encode(spans))
        assert ours == encode_spans(spans)
        assert ours.SerializeToString(deterministic=True) == encode_spans(spans).SerializeToString(
            deterministic=True
        )


def test_one_span_at_a_time(spans: list[ReadableSpan]) -> None:
    encoder = LeanSpanEncoder()
    for span in spans:
        assert ExportTraceServiceRequest.FromString(encoder.encode([span])) == encode_spans([span])


def test_the_attribute_table_is_bounded() -> None:
    attributes = LeanSpanEncoder()._attributes
    for number in range(5000):
        attributes.encode(0x4A, {"n": number})
    assert 0 < len(attributes._table) <= 4096


def test_interleaved_and_equal_resources_group_as_upstream() -> None:
    """Spans arrive interleaved from two services and two scopes, and one service's resource
    exists as two equal but distinct objects: upstream groups by equality (one ResourceSpans
    per equal resource, first-seen order); so must the identity shortcut."""
    exporter = InMemorySpanExporter()
    tracers = []
    for service in ("orderflow-api", "other", "orderflow-api"):
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracers += [provider.get_tracer("orderflow.http"), provider.get_tracer("redis", "1")]
    for number in range(12):
        with tracers[number % len(tracers)].start_as_current_span(f"span {number}"):
            pass
    spans = list(exporter.get_finished_spans())
    assert spans[0].resource is not spans[4].resource
    assert spans[0].resource == spans[4].resource
    ours = ExportTraceServiceRequest.FromString(LeanSpanEncoder().encode(spans))
    assert ours == encode_spans(spans)
    assert len(ours.resource_spans) == 2


def test_sdk_spans_are_read_from_their_plain_attribute_dict(spans: list[ReadableSpan]) -> None:
    """The fast path (a plain dict, iterated in C) applies to the SDK's own spans; a span
    built some other way goes through the public mapping."""
    sdk_span = spans[0]
    assert _attribute_dict(sdk_span) is sdk_span._attributes._dict  # type: ignore[union-attr]
    plain = ReadableSpan(name="plain", attributes={"k": "v"})
    assert dict(_attribute_dict(plain)) == {"k": "v"}
