"""Which database failures are the client's, which are races, which are outages, and which
are bugs (left as 500s)."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from orderflow.db.errors import Failure, classify


def wrapped(orig: BaseException) -> sa_exc.DBAPIError:
    """The way SQLAlchemy hands a driver error to the application."""
    error = sa_exc.DBAPIError.instance("SELECT 1", None, orig, Exception)
    assert isinstance(error, sa_exc.DBAPIError)
    return error


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (asyncpg.exceptions.StringDataRightTruncationError(), Failure.INVALID_INPUT),
        (asyncpg.exceptions.CharacterNotInRepertoireError(), Failure.INVALID_INPUT),
        (asyncpg.exceptions.NumericValueOutOfRangeError(), Failure.INVALID_INPUT),
        (asyncpg.exceptions._base.DataError("value out of int32 range"), Failure.INVALID_INPUT),
        (asyncpg.exceptions.ForeignKeyViolationError(), Failure.CONFLICT),
        (asyncpg.exceptions.UniqueViolationError(), Failure.CONFLICT),
        (asyncpg.exceptions.DeadlockDetectedError(), Failure.CONFLICT),
        (asyncpg.exceptions.SerializationError(), Failure.CONFLICT),
        (asyncpg.exceptions.TooManyConnectionsError(), Failure.UNAVAILABLE),
        (asyncpg.exceptions.CannotConnectNowError(), Failure.UNAVAILABLE),
        (asyncpg.exceptions.AdminShutdownError(), Failure.UNAVAILABLE),
        (asyncpg.exceptions.ConnectionDoesNotExistError(), Failure.UNAVAILABLE),
        (ConnectionRefusedError(), Failure.UNAVAILABLE),
        (TimeoutError(), Failure.UNAVAILABLE),
        # Bugs stay bugs: a missing table or a syntax error is ours to fix, not a 4xx/503.
        (asyncpg.exceptions.UndefinedTableError(), None),
        (asyncpg.exceptions.PostgresSyntaxError(), None),
        (ValueError("not a database error"), None),
    ],
)
def test_driver_errors_raw_and_wrapped(error: BaseException, kind: Failure | None) -> None:
    assert classify(error) is kind
    if isinstance(error, Exception):
        assert classify(wrapped(error)) is kind


def test_a_wrapped_error_is_classified_by_its_cause() -> None:
    """SQLAlchemy's asyncpg adapter re-raises its own error type with the driver's as cause
    (and no SQLSTATE for client-side errors): the cause decides."""
    adapter_error = RuntimeError("<class 'asyncpg.exceptions.DataError'>: out of int64 range")
    adapter_error.__cause__ = asyncpg.exceptions._base.DataError("out of int64 range")
    assert classify(wrapped(adapter_error)) is Failure.INVALID_INPUT


def test_an_exhausted_pool_is_unavailable() -> None:
    assert classify(sa_exc.TimeoutError("QueuePool limit reached")) is Failure.UNAVAILABLE
