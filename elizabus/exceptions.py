"""Domain errors. Services raise them; the API's exception handler maps each to its status and
the ``{success: false, error: {code, message}}`` shape, and the socket router to ``messageError``.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class InvalidInput(DomainError):
    status = 400
    code = "VALIDATION_ERROR"


class NotFound(DomainError):
    status = 404
    code = "NOT_FOUND"


class Conflict(DomainError):
    status = 409
    code = "CONFLICT"


class Forbidden(DomainError):
    status = 403
    code = "FORBIDDEN"


class PayloadTooLarge(DomainError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class UpstreamFailure(DomainError):
    """A service elizabus depends on (an agent's model endpoint) failed."""

    status = 502
    code = "UPSTREAM_FAILURE"


class Gone(DomainError):
    """What was asked for existed and has expired (an expired session: 410)."""

    status = 410
    code = "GONE"
