"""The built-in email sink: a stand-in provider that logs what it is sent.

It honours ``Idempotency-Key`` like a real provider would, so duplicate deliveries are visible
in the log as duplicates rather than as second emails.
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from litestar import Request, post
from litestar.status_codes import HTTP_202_ACCEPTED

log = structlog.get_logger("orderflow.email_sink")
_MAX_REMEMBERED = 10_000


class Email(msgspec.Struct):
    to: str
    subject: str
    body: str


_seen: dict[str, None] = {}


@post("/_sink/email", status_code=HTTP_202_ACCEPTED, include_in_schema=False)
async def email_sink(data: Email, request: Request[Any, Any, Any]) -> dict[str, bool]:
    key = request.headers.get("idempotency-key", "")
    duplicate = bool(key) and key in _seen
    if key and not duplicate:
        _seen[key] = None
        if len(_seen) > _MAX_REMEMBERED:
            _seen.pop(next(iter(_seen)))
    log.info("email accepted", to=data.to, subject=data.subject, duplicate=duplicate)
    return {"duplicate": duplicate}
