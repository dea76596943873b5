"""Faults switched on by configuration, so dashboards and alerts can be shown to work."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

from litestar.enums import ScopeType

from orderflow.api.errors import error_response

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

    from orderflow.settings import ChaosSettings

_SPARED = ("/healthz", "/readyz", "/metrics", "/_sink/")


def chaos_middleware(settings: ChaosSettings) -> type:
    """A middleware class bound to ``settings`` (only installed when a fault is configured)."""

    class ChaosMiddleware:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or scope["path"].startswith(_SPARED):
                await self.app(scope, receive, send)
                return
            if settings.latency_ms:
                await asyncio.sleep(settings.latency_ms / 1000)
            if settings.error_rate and random.random() < settings.error_rate:  # noqa: S311
                response = error_response(503, "injected fault (CHAOS_ERROR_RATE)")
                await response.to_asgi_response(app=None, request=None)(scope, receive, send)  # type: ignore[arg-type]
                return
            await self.app(scope, receive, send)

    return ChaosMiddleware
