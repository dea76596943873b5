"""``GET /metrics``: Prometheus text, or OpenMetrics with trace exemplars when asked for."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from orderflow.telemetry.prometheus import exposition


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    body, content_type = exposition(request.headers.get("accept"))
    return Response(body, media_type=content_type)
