"""The three OTLP exporters, over the protocol ``OTEL_EXPORTER_OTLP_PROTOCOL`` names.

``grpc``: the gRPC exporters. Their transport is grpcio's C core, which sends without holding
the GIL; with OTLP/HTTP, ``requests``/``urllib3`` run in the exporter threads as Python code and
take the GIL from the event loop for every batch. Spans, by far the most numerous, are encoded
by ``otlp_spans`` (a fifth of the upstream encoder's CPU). bench/README.md has the numbers.
``http/protobuf`` (the SDK's default for an unset variable here, as before): the HTTP
exporters. Per-signal variables (``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``...) are not read: one
protocol for the process, like the one endpoint the chart sets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter


@dataclass(frozen=True)
class OtlpExporters:
    spans: SpanExporter
    metrics: MetricExporter
    logs: LogRecordExporter


def otlp_protocol() -> str:
    return os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip() or "http/protobuf"


def otlp_exporters() -> OtlpExporters:
    # Imported on use: a process exporting over one protocol never loads the other's stack.
    if otlp_protocol() == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (  # noqa: PLC0415
            OTLPLogExporter as GrpcLogs,
        )
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # noqa: PLC0415
            OTLPMetricExporter as GrpcMetrics,
        )

        from orderflow.telemetry.otlp_spans import LeanGrpcSpanExporter  # noqa: PLC0415

        return OtlpExporters(LeanGrpcSpanExporter(), GrpcMetrics(), GrpcLogs())
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (  # noqa: PLC0415
        OTLPLogExporter as HttpLogs,
    )
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
        OTLPMetricExporter as HttpMetrics,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter as HttpSpans,
    )

    return OtlpExporters(HttpSpans(), HttpMetrics(), HttpLogs())
