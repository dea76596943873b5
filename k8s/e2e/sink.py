"""An OTLP sink on the host: a real Collector (the project's otelcol build running
``otel/collector-test.yaml``) that writes every span, metric point and log record it receives
as OTLP JSON lines into the run directory.

The bundled LGTM cannot run on the test bed (its components are AGPL-licensed and its image
cannot be pulled), so the chart's in-cluster Collector is pointed at this sink the way a user
points it at an existing backend (``lgtm.enabled=false``, ``externalLgtm.otlpEndpoint``): the
in-cluster pipeline is the shipped one, only its destination differs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from k8s.testbed.cluster import http_ok
from k8s.testbed.procs import free_port
from k8s.testbed.tools import ensure

if TYPE_CHECKING:
    from k8s.testbed.cluster import TestBed

CONFIG = Path(__file__).resolve().parents[2] / "otel" / "collector-test.yaml"
PROCESS = "otlp-sink"


def out_dir(bed: TestBed) -> Path:
    return bed.run_dir / "otlp-sink"


def endpoint_file(bed: TestBed) -> Path:
    return out_dir(bed) / "grpc-endpoint"


def start(bed: TestBed, host: str) -> str:
    """Start the sink (once per bed) listening on ``host``; returns its OTLP/gRPC host:port."""
    if bed.sup.alive(PROCESS) and endpoint_file(bed).exists():
        return endpoint_file(bed).read_text().strip()
    out = out_dir(bed)
    out.mkdir(parents=True, exist_ok=True)
    grpc = f"{host}:{free_port()}"
    health = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "OTELCOL_TEST_GRPC_ENDPOINT": grpc,
        "OTELCOL_TEST_HTTP_ENDPOINT": f"{host}:{free_port()}",
        "OTELCOL_TEST_HEALTH_ENDPOINT": health,
        "OTELCOL_TEST_OUT_DIR": str(out),
    }
    otelcol = ensure(["otelcol"])["otelcol"]
    bed.sup.start(PROCESS, [str(otelcol), f"--config={CONFIG}"], tie_to_parent=False, env=env)
    bed._wait(lambda: http_ok(f"http://{health}/"), "the OTLP sink's health check")
    endpoint_file(bed).write_text(grpc)
    return grpc
