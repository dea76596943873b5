"""Every error answers ``{"error": ..., "trace_id": ...}`` with the status that fits."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import structlog
from litestar import MediaType, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from opentelemetry import trace

from orderflow.api.fields import NO_NUL
from orderflow.db.errors import Failure, classify
from orderflow.domain.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
)

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import ExceptionHandlersMap

log = structlog.get_logger(__name__)

# Seconds a client should wait before retrying a 503: long enough for a pool to drain or a
# database to finish restarting, short enough that a blip costs little.
RETRY_AFTER_SECONDS = 5

_STATUS: dict[type[DomainError], int] = {
    InvalidInputError: 422,
    AuthenticationError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    RateLimitedError: 429,
}


def current_trace_id() -> str:
    """The active trace's id; a random one when telemetry is off, so the client can still quote
    an id that appears in our logs."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        return format(context.trace_id, "032x")
    return secrets.token_hex(16)


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> Response[dict[str, str]]:
    return Response(
        {"error": message, "trace_id": current_trace_id()},
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


def _domain_error(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    assert isinstance(exc, DomainError)
    status = next(code for kind, code in _STATUS.items() if isinstance(exc, kind))
    headers: dict[str, str] | None = None
    if isinstance(exc, AuthenticationError):
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, RateLimitedError):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(status, str(exc), headers)


# What msgspec says when fields.NO_NUL fails; a regex is no explanation for a client.
_NUL_PATTERN_MESSAGE = f"Expected `str` matching regex {NO_NUL!r}"


def _validation_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    assert isinstance(exc, ValidationException)
    details = exc.extra if isinstance(exc.extra, list) else []
    reasons = "; ".join(
        f"{d.get('key') or 'body'}: {d.get('message')}" for d in details if isinstance(d, dict)
    ).replace(_NUL_PATTERN_MESSAGE, "must not contain NUL (U+0000) characters")
    message = f"invalid request: {reasons}" if reasons else f"invalid request: {exc.detail}"
    return error_response(400, message)


def _http_error(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, str(exc.detail), headers)


def _unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    failure = classify(exc)
    if failure is Failure.UNAVAILABLE:
        log.warning("database unavailable", path=request.url.path, error=str(exc)[:300])
        return error_response(
            503,
            "the database is unavailable; retry later",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if failure is Failure.CONFLICT:
        log.info("concurrent change", path=request.url.path, error=str(exc)[:300])
        return error_response(409, "the request conflicted with a concurrent change; retry it")
    if failure is Failure.INVALID_INPUT:
        # Edge validation should have caught it: worth a log line, not a 500.
        log.warning("input rejected by the database", path=request.url.path, error=str(exc)[:300])
        return error_response(400, "invalid request: a value cannot be stored")
    if isinstance(exc, RecursionError):
        # Raised by the JSON decoder on pathologically nested bodies, before any handler runs.
        return error_response(400, "invalid request: JSON nested too deeply")
    if isinstance(exc, UnicodeDecodeError):
        # Raised while decoding a body or URL that is not UTF-8; nothing of ours decodes bytes.
        return error_response(400, "invalid request: not valid UTF-8")
    log.exception("unhandled error", path=request.url.path, method=request.method)
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, "internal server error")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: _domain_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected_error,
}
