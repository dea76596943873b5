"""``OPTIONS`` answered from the whole route table.

Litestar answers ``OPTIONS`` per route handler group, so a path served by handlers with
different dependencies (``GET``/``POST /api/articles``) listed only some of its methods in
``Allow``. This middleware lists every method the path has, as HTTP says it should.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from litestar.enums import ScopeType
from litestar.routes import HTTPRoute

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send

_PARAMETER = re.compile(r"\{[^/}]+\}")


def allowed_methods(app: Litestar) -> list[tuple[re.Pattern[str], str]]:
    """Each path template of the app, as a pattern, with its ``Allow`` value."""
    methods: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            methods.setdefault(route.path_format, set()).update(route.methods)
    table = []
    for template, verbs in methods.items():
        literal_parts = _PARAMETER.split(template)
        pattern = "^" + "[^/]+".join(re.escape(part) for part in literal_parts) + "/?$"
        table.append((re.compile(pattern), ", ".join(sorted({*verbs, "OPTIONS"}))))
    return table


class AllowMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._table: list[tuple[re.Pattern[str], str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "OPTIONS":
            await self.app(scope, receive, send)
            return
        if self._table is None:
            self._table = allowed_methods(scope["litestar_app"])
        path = scope["path"]
        allow = next((value for pattern, value in self._table if pattern.match(path)), None)
        if allow is None:
            await self.app(scope, receive, send)
            return
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": 204,
            "headers": [(b"allow", allow.encode())],
        }
        await send(start)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
