"""What a failed database call means for the caller: their input, a race, or an outage.

The HTTP layer turns each kind into a status (400/409/503); everything not classified here is
a bug and stays a 500. PostgreSQL's SQLSTATE classes are the stable contract: the class (first
two characters) says who is at fault whatever the driver's exception hierarchy looks like.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum

import asyncpg
from sqlalchemy import exc as sa_exc


class Failure(StrEnum):
    INVALID_INPUT = "invalid_input"
    """The values sent cannot be stored (too long, out of range, a NUL character)."""
    CONFLICT = "conflict"
    """Another transaction got in the way (a constraint, a deadlock, a serialization failure)."""
    UNAVAILABLE = "unavailable"
    """The database cannot be reached or has no capacity right now; retrying later helps."""


_BY_SQLSTATE_CLASS = {
    "08": Failure.UNAVAILABLE,  # connection exception
    "22": Failure.INVALID_INPUT,  # data exception: string too long, out of range, bad encoding
    "23": Failure.CONFLICT,  # integrity constraint violation
    "40": Failure.CONFLICT,  # transaction rollback: serialization failure, deadlock
    "53": Failure.UNAVAILABLE,  # insufficient resources: too many connections, disk full
    "57": Failure.UNAVAILABLE,  # operator intervention: shutdown, cannot connect now, canceled
    "58": Failure.UNAVAILABLE,  # system error (I/O)
}

_UNREACHABLE = (
    OSError,  # refused, reset, unreachable: raised unwrapped by the driver on connect
    asyncio.TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,  # "connection is closed" and friends
)


def _sqlstate(error: BaseException) -> str | None:
    state = getattr(error, "sqlstate", None)
    return state if isinstance(state, str) and len(state) == 5 else None


def classify(error: BaseException) -> Failure | None:
    """The kind of a database failure, or None when ``error`` is not one we can attribute."""
    if isinstance(error, sa_exc.TimeoutError):  # no pooled connection freed up in time
        return Failure.UNAVAILABLE
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return Failure.UNAVAILABLE
        chain: list[BaseException] = [error.orig] if error.orig is not None else []
        if error.orig is not None and error.orig.__cause__ is not None:
            chain.append(error.orig.__cause__)
        for link in chain:
            found = _classify_driver(link)
            if found is not None:
                return found
        return None
    return _classify_driver(error)


def _classify_driver(error: BaseException) -> Failure | None:
    # Client-side encoding failure of a parameter (an int past int32/int64): the input's fault.
    # Checked before InterfaceError, which it subclasses.
    if isinstance(error, asyncpg.exceptions._base.DataError):
        return Failure.INVALID_INPUT
    state = _sqlstate(error)
    if state is not None:
        return _BY_SQLSTATE_CLASS.get(state[:2])
    if isinstance(error, _UNREACHABLE):
        return Failure.UNAVAILABLE
    return None
