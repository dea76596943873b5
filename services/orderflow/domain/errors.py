"""Domain errors; the API maps each kind to one HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a caller can act on; ``str(error)`` is safe to show."""


class NotFoundError(DomainError):
    pass


class ConflictError(DomainError):
    """The request is valid but the current state forbids it (oversell, bad transition)."""


class ForbiddenError(DomainError):
    """Authenticated, but not allowed to touch this resource."""


class AuthenticationError(DomainError):
    """Missing, malformed, expired or revoked credentials."""


class InvalidInputError(DomainError):
    """Well-formed input that breaks a business rule."""


class RateLimitedError(DomainError):
    """Too many attempts; ``retry_after`` is how many seconds until the next one is allowed."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
