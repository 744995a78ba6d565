"""The API's error answers as exceptions, one class per status a caller may handle apart.

Every error body of the service is `{"status": false, "message": …}` (a 422 adds `errors`),
so one base class carries status, message and errors, and the status picks the subclass.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class EphemailError(Exception):
    """An answer that is not 2xx, or no answer at all (`status` is None then)."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        errors: dict[str, list[str]] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{status} {message}" if status is not None else message)
        self.status = status
        self.message = message
        self.errors: dict[str, list[str]] = errors or {}
        self.request_id = request_id


class ConnectionFailed(EphemailError):
    """The service could not be reached, or did not answer in time (no HTTP status)."""


class BadRequest(EphemailError):
    """400: the request itself is malformed."""


class Unauthenticated(EphemailError):
    """401: the API key is missing, unknown or revoked."""


class Forbidden(EphemailError):
    """403: the plan does not allow it (domain type, mailbox limit, disabled account)."""


class NotFound(EphemailError):
    """404: no such mailbox, message or attachment for this key (or it expired)."""


class WaitTimedOut(EphemailError):
    """408: no matching message arrived before the wait's timeout."""


class Conflict(EphemailError):
    """409: the address asked for is already in use."""


class ValidationFailed(EphemailError):
    """422: a parameter is invalid; `errors` maps each field to its problems."""


class QuotaExceeded(EphemailError):
    """429: the monthly quota is used up (or too many open streams).

    `retry_after` is the `Retry-After` header in seconds; `reset` the quota's reset time
    when the answer carried the rate-limit headers.
    """

    def __init__(
        self,
        message: str,
        status: int | None = 429,
        errors: dict[str, list[str]] | None = None,
        request_id: str | None = None,
        retry_after: int | None = None,
        reset: datetime | None = None,
    ) -> None:
        super().__init__(message, status, errors, request_id)
        self.retry_after = retry_after
        self.reset = reset


class ServerError(EphemailError):
    """5xx: a fault of the service; `request_id` names it in the service's log."""


_BY_STATUS: dict[int, type[EphemailError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    408: WaitTimedOut,
    409: Conflict,
    422: ValidationFailed,
    429: QuotaExceeded,
}


def error_for(
    status: int, body: Any, retry_after: int | None = None, reset: datetime | None = None
) -> EphemailError:
    """The exception for a non-2xx answer with the (decoded, maybe not JSON) `body`."""
    fields = body if isinstance(body, dict) else {}
    message = fields.get("message")
    if not isinstance(message, str) or not message:
        message = f"HTTP {status}"
    raw_errors = fields.get("errors")
    errors = (
        {str(k): [str(p) for p in v] for k, v in raw_errors.items() if isinstance(v, list)}
        if isinstance(raw_errors, dict)
        else None
    )
    request_id = fields.get("request_id")
    request_id = request_id if isinstance(request_id, str) else None
    if status == 429:
        return QuotaExceeded(message, status, errors, request_id, retry_after, reset)
    cls = ServerError if status >= 500 else _BY_STATUS.get(status, EphemailError)
    return cls(message, status, errors, request_id)
