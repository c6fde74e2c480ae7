"""The shop's exception family: each error carries its HTTP status and a snake_case code."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorInfo(BaseModel):
    """What went wrong: a snake_case ``code``, a human ``message`` and the ``details`` (e.g. failing fields)."""

    code: str
    message: str
    details: list[Any]


class ErrorBody(BaseModel):
    """The contract's error shape: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorInfo


class ShopError(Exception):
    """Base of every error a function turns into an HTTP answer."""

    status = 500
    code = "internal_error"
    #: seconds after which a retry may succeed (sent as ``Retry-After``), if the error knows
    retry_after: int | None = None

    def __init__(self, message: str, *, code: str | None = None, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or []

    def to_body(self) -> dict[str, Any]:
        """The contract's error shape."""
        info = ErrorInfo(code=self.code, message=self.message, details=self.details)
        return ErrorBody(error=info).model_dump(mode="json")


class BadRequest(ShopError):
    """The request is malformed or fails validation."""

    status = 400
    code = "validation_error"


class Unauthorized(ShopError):
    """No credentials, or credentials that do not check out."""

    status = 401
    code = "unauthorized"


class Forbidden(ShopError):
    """The caller is known but may not do this."""

    status = 403
    code = "forbidden"


class NotFound(ShopError):
    """The thing asked for does not exist (or is not the caller's to see)."""

    status = 404
    code = "not_found"


class Conflict(ShopError):
    """The request clashes with the current state (duplicate, illegal transition, stock)."""

    status = 409
    code = "conflict"


class PayloadTooLarge(ShopError):
    """The request body is over the size limit."""

    status = 413
    code = "payload_too_large"


class TooManyRequests(ShopError):
    """Too many attempts (failed logins); the client may retry after ``retry_after`` seconds."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, retry_after)


class ConcurrentUpdate(ShopError):
    """A compare-and-swap write kept losing the race; the caller may retry."""

    status = 409
    code = "concurrent_update"


class ServiceUnavailable(ShopError):
    """A dependency (the database) cannot be reached right now; the client may retry after a moment."""

    status = 503
    code = "service_unavailable"
    retry_after = 5
