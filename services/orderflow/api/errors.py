"""Every error answers ``{"error": ..., "trace_id": ...}`` with the status that fits."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import structlog
from litestar import MediaType, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from opentelemetry import trace

from orderflow.domain.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import ExceptionHandlersMap

log = structlog.get_logger(__name__)

_STATUS: dict[type[DomainError], int] = {
    InvalidInputError: 422,
    AuthenticationError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
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
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_response(status, str(exc), headers)


def _validation_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    assert isinstance(exc, ValidationException)
    details = exc.extra if isinstance(exc.extra, list) else []
    reasons = "; ".join(
        f"{d.get('key') or 'body'}: {d.get('message')}" for d in details if isinstance(d, dict)
    )
    message = f"invalid request: {reasons}" if reasons else f"invalid request: {exc.detail}"
    return error_response(400, message)


def _http_error(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, str(exc.detail), headers)


def _unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    log.exception("unhandled error", path=request.url.path, method=request.method)
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, "internal server error")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: _domain_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected_error,
}
