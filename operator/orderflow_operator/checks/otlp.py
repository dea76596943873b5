"""OpenTelemetry Collector.

- ``http(s)://host:4318[/...]``: POST an empty ``ExportTraceServiceRequest`` (a valid,
  zero-span protobuf message) to ``/v1/traces``; the OTLP/HTTP receiver answers 2xx.
  This checks the receiver the app exports to, not just an open port.
- ``host:4317`` (gRPC): a TCP connect (a gRPC health call would need grpcio).
"""

from __future__ import annotations

import httpx

from orderflow_operator.checks import tcp
from orderflow_operator.checks.address import is_url

TRACES_PATH = "/v1/traces"


class OtlpRejected(RuntimeError):
    pass


def traces_url(address: str) -> str:
    base = address.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


async def check(address: str) -> None:
    if not is_url(address):
        await tcp.check(address)
        return
    url = traces_url(address)
    async with httpx.AsyncClient() as client:
        response = await client.post(
            url, content=b"", headers={"Content-Type": "application/x-protobuf"}
        )
    if not response.is_success:
        raise OtlpRejected(f"POST {url} answered HTTP {response.status_code}")
