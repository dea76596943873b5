"""A minimal OTLP/HTTP trace receiver for tests: decodes each export with the official
protobuf classes (so a malformed export fails the test) and keeps the spans."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.support.receiver import RecordingServer, Reply, Request


@dataclass
class ReceivedSpan:
    name: str
    service: str | None
    attributes: dict[str, Any]
    status_code: int
    status_message: str = ""
    raw: bytes = b""  # the span as received, to search for what must never be exported


class OtlpReceiver(RecordingServer):
    def __init__(self) -> None:
        super().__init__()
        self.requests = 0
        self.spans: list[ReceivedSpan] = []

    def handle(self, request: Request) -> Reply:
        if request.path != "/v1/traces":
            return Reply(404)
        export = ExportTraceServiceRequest()
        export.ParseFromString(request.body)  # raises on garbage: the test sees no answer
        self.record(export)
        payload = ExportTraceServiceResponse().SerializeToString()
        return Reply(200, {"Content-Type": "application/x-protobuf"}, payload)

    @property
    def endpoint(self) -> str:
        return self.base_url

    def record(self, request: ExportTraceServiceRequest) -> None:
        """Called by ``handle``, under the server's lock."""
        self.requests += 1
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attrs: dict[str, Any] = {}
                    for a in span.attributes:
                        kind = a.value.WhichOneof("value")
                        attrs[a.key] = getattr(a.value, kind) if kind else None
                    self.spans.append(
                        ReceivedSpan(
                            span.name,
                            resource.get("service.name"),
                            attrs,
                            span.status.code,
                            span.status.message,
                            span.SerializeToString(),
                        )
                    )
