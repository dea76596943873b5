"""OTLP span export over gRPC with a lean encoder: the same bytes on the wire, less CPU.

The OTLP exporters build one protobuf object per span, per attribute and per value
(``opentelemetry.exporter.otlp.proto.common``'s ``encode_spans``) and then serialize them: about
88 µs of the exporter thread's CPU per span of the product's shapes, on the GIL the event loop
needs; this encoder, 18 (``python -m bench.parts``). Here the protobuf wire format of
``ExportTraceServiceRequest`` is written directly:

* each ``(key, value)`` attribute is encoded once and then reused from a bounded table (most
  attributes repeat: methods, routes, schemes, SQL statements, peer addresses);
* resource and scope messages are encoded once per object, by the upstream encoder, and spans
  are grouped under them by object identity (hashing a ``Resource`` dumps its attributes to
  JSON), after one lookup by equality per distinct pair and batch;
* an SDK span's attributes are read from its plain dict (the public view iterates in Python);
* spans with events, links or a trace state (exceptions, remote links: rare) and attribute
  values that are neither str, bool, int, float nor flat sequences of those go through the
  upstream encoder, byte for byte.

``tests/unit/telemetry/test_otlp_spans.py`` parses the result with the official protobuf classes and
checks it equals ``encode_spans`` for every shape the product produces. The gRPC transport,
retries and the exporter's own metrics are the upstream exporter's, unchanged.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.exporter.otlp.proto.common._internal import (
    _encode_instrumentation_scope,
    _encode_key_value,
    _encode_resource,
)
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import _encode_span
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.trace import SpanKind

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
_PACK_DOUBLE = struct.Struct("<d").pack
_PACK_FIXED64 = struct.Struct("<Q").pack
_PACK_FIXED32 = struct.Struct("<I").pack
_INT64 = 1 << 63
_ATTRIBUTE_TABLE_SIZE = 4096
# SpanFlags: CONTEXT_HAS_IS_REMOTE, plus CONTEXT_IS_REMOTE when the parent is remote.
_FLAGS_LOCAL = b"\x85\x01" + _PACK_FIXED32(0x100)
_FLAGS_REMOTE = b"\x85\x01" + _PACK_FIXED32(0x300)
_KIND = {kind: b"\x30" + bytes([kind.value + 1]) for kind in SpanKind}
_NO_STATUS = b"\x7a\x00"


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field (``tag`` is its first byte: field number << 3 | 2)."""
    return bytes((tag,)) + _varint(len(payload)) + payload


def _any_value(value: Any) -> bytes | None:  # noqa: PLR0911 - one return per wire type
    """``AnyValue`` for the common scalar types and flat sequences of them; None otherwise."""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _field(0x0A, value.encode())
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            return None
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + _PACK_DOUBLE(value)
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        items = [_any_value(item) for item in value]
        if any(item is None for item in items):
            return None
        return _field(0x2A, b"".join(_field(0x0A, item) for item in items if item is not None))
    return None


def _attribute_dict(span: ReadableSpan) -> Mapping[str, Any]:
    """The span's attributes. An SDK span's public ``attributes`` is a read-only proxy of a
    ``BoundedAttributes`` whose item iteration runs in Python, one locked ``__getitem__`` per
    key; its plain dict, when there is one, iterates in C. Anything else: the public view."""
    raw = getattr(getattr(span, "_attributes", None), "_dict", None)
    if type(raw) is dict:
        return raw
    return span.attributes or {}


class _Attributes:
    """Encoded ``KeyValue`` fields, by (key, type, value); cleared when full."""

    def __init__(self) -> None:
        self._table: dict[tuple[str, type, Any], bytes] = {}

    def encode(self, tag: int, attributes: Any) -> bytes:
        if not attributes:
            return b""
        table = self._table
        parts = []
        for key, value in attributes.items():
            try:
                cache_key = (key, type(value), value)
                encoded = table.get(cache_key)
            except TypeError:  # an unhashable value (a list): encode it every time
                cache_key, encoded = None, None
            if encoded is None:
                encoded = self._key_value(tag, key, value)
                if encoded is None:
                    continue
                if cache_key is not None:
                    if len(table) >= _ATTRIBUTE_TABLE_SIZE:
                        table.clear()
                    table[cache_key] = encoded
            parts.append(encoded)
        return b"".join(parts)

    @staticmethod
    def _key_value(tag: int, key: str, value: Any) -> bytes | None:
        any_value = _any_value(value)
        if any_value is None:
            try:  # the upstream encoder, which also decides what is invalid (logged, skipped)
                return _field(tag, _encode_key_value(key, value).SerializeToString())
            except Exception:
                return None
        return _field(tag, _field(0x0A, key.encode()) + _field(0x12, any_value))


class LeanSpanEncoder:
    def __init__(self) -> None:
        self._attributes = _Attributes()
        self._resources: dict[Resource, bytes] = {}
        self._scopes: dict[InstrumentationScope | None, bytes] = {}

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        """A serialized ``ExportTraceServiceRequest``, grouped by resource and scope in first-
        seen order like ``encode_spans``."""
        grouped: dict[Resource, dict[InstrumentationScope | None, list[bytes]]] = {}
        # Hashing a Resource serializes its attributes to JSON (~5 µs a span): each distinct
        # (resource, scope) pair of objects is looked up by hash once per batch, then by
        # identity. Equal but distinct objects still share one group, as upstream.
        # Each entry holds its resource and scope: no id is reused while the dict lives.
        by_identity: dict[tuple[int, int], tuple[object, object, list[bytes]]] = {}
        for span in spans:
            resource, scope = span.resource, span.instrumentation_scope or None
            found = by_identity.get((id(resource), id(scope)))
            if found is None:
                encoded = grouped.setdefault(resource, {}).setdefault(scope, [])
                by_identity[id(resource), id(scope)] = (resource, scope, encoded)
            else:
                encoded = found[2]
            encoded.append(self.span(span))
        out = []
        for resource, by_scope in grouped.items():
            body = [self._resource(resource)]
            for scope, scope_spans in by_scope.items():
                body.append(_field(0x12, self._scope(scope) + b"".join(scope_spans)))
            if resource.schema_url:
                body.append(_field(0x1A, resource.schema_url.encode()))
            out.append(_field(0x0A, b"".join(body)))
        return b"".join(out)

    def span(self, span: ReadableSpan) -> bytes:
        """One ``Span`` field (tag and length included) of a ``ScopeSpans``."""
        context = span.get_span_context()
        if context is None or span.events or span.links or context.trace_state:
            return _field(0x12, _encode_span(span).SerializeToString())
        parent = span.parent
        parts = [
            b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),
            b"\x12\x08" + context.span_id.to_bytes(8, "big"),
        ]
        if parent:
            parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
        if span.name:
            parts.append(_field(0x2A, span.name.encode()))
        parts.append(_KIND[span.kind])  # never 0 on the wire: INTERNAL is 1
        if span.start_time:
            parts.append(b"\x39" + _PACK_FIXED64(span.start_time))
        if span.end_time:
            parts.append(b"\x41" + _PACK_FIXED64(span.end_time))
        parts.append(self._attributes.encode(0x4A, _attribute_dict(span)))
        if span.dropped_attributes:
            parts.append(b"\x50" + _varint(span.dropped_attributes))
        if span.dropped_events:
            parts.append(b"\x60" + _varint(span.dropped_events))
        if span.dropped_links:
            parts.append(b"\x70" + _varint(span.dropped_links))
        parts.append(self._status(span))
        parts.append(_FLAGS_REMOTE if parent and parent.is_remote else _FLAGS_LOCAL)
        return _field(0x12, b"".join(parts))

    @staticmethod
    def _status(span: ReadableSpan) -> bytes:
        status = span.status
        code = status.status_code.value
        if not code and not status.description:
            return _NO_STATUS
        body = b""
        if status.description:
            body += _field(0x12, status.description.encode())
        if code:
            body += b"\x18" + _varint(code)
        return b"\x7a" + _varint(len(body)) + body

    def _resource(self, resource: Resource) -> bytes:
        encoded = self._resources.get(resource)
        if encoded is None:
            encoded = _field(0x0A, _encode_resource(resource).SerializeToString())
            self._resources[resource] = encoded
        return encoded

    def _scope(self, scope: InstrumentationScope | None) -> bytes:
        encoded = self._scopes.get(scope)
        if encoded is None:
            body = [_field(0x0A, _encode_instrumentation_scope(scope).SerializeToString())]  # type: ignore[arg-type]
            if scope is not None and scope.schema_url:
                body.append(_field(0x1A, scope.schema_url.encode()))
            encoded = b"".join(body)
            self._scopes[scope] = encoded
        return encoded


class _RawTraceStub:
    """``TraceServiceStub`` taking the request already serialized."""

    def __init__(self, channel: Any) -> None:  # a grpc.Channel (grpcio ships no type hints)
        self.Export = channel.unary_unary(
            _EXPORT_METHOD,
            request_serializer=None,  # bytes as they are
            response_deserializer=ExportTraceServiceResponse.FromString,
        )


class LeanGrpcSpanExporter(GrpcSpanExporter):
    """The upstream OTLP/gRPC span exporter (configuration, channel, retries, metrics), sending
    what ``LeanSpanEncoder`` wrote."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._encoder = LeanSpanEncoder()
        # The channel is (re)built from ``_stub`` (after UNAVAILABLE too): ours from now on.
        self._stub = _RawTraceStub
        self._client = _RawTraceStub(self._channel)  # type: ignore[assignment]

    def _translate_data(self, data: Sequence[ReadableSpan]) -> bytes:  # type: ignore[override]
        return self._encoder.encode(data)
