"""Junction's error tree and its mapping to HTTP.

::

    JunctionError                     base; never leaves the process unmapped
     +-- ApiError                     has an HTTP status and a wire code
     |    +-- BadRequest              400  invalid_argument   -> what to fix
     |    +-- Unauthenticated         401  unauthenticated
     |    +-- PermissionDenied        403  permission_denied  (e.g. an auth token's scope)
     |    +-- NotFound                404  not_found          (also other projects' ids)
     |    +-- Conflict                409  conflict           (e.g. chain still running)
     |    +-- PayloadTooLarge         413  payload_too_large
     |    +-- TooManyRequests         429  resource_exhausted (Retry-After: retry_after)
     |    +-- Unavailable             503  unavailable
     +-- ProviderError                a model provider failed; carries retry hints
          +-- ProviderRateLimited     429 from the provider (retry_after honoured)
          +-- ProviderUnavailable     5xx / connection errors (retried)
          +-- ProviderRejected        4xx other than 429 (not retried)

Every error that reaches a client is rendered as ``{"error": {"code", "message",
"status"}}``: the shape the official SDK parses (REFERENCE 1.5).
"""

from __future__ import annotations


class JunctionError(Exception):
    """Base of every error Junction raises on purpose."""


class ApiError(JunctionError):
    status_code = 500
    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_wire(self) -> dict[str, object]:
        return {"error": {"code": self.code, "message": self.message, "status": self.code.upper()}}


class BadRequest(ApiError):
    status_code = 400
    code = "invalid_argument"


class Unauthenticated(ApiError):
    status_code = 401
    code = "unauthenticated"


class PermissionDenied(ApiError):
    status_code = 403
    code = "permission_denied"


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "payload_too_large"


class TooManyRequests(ApiError):
    """A rate limit or quota: the client may retry after ``retry_after`` seconds (sent as
    ``Retry-After``, which the SDK honours)."""

    status_code = 429
    code = "resource_exhausted"

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(ApiError):
    status_code = 503
    code = "unavailable"


class ProviderError(JunctionError):
    """A model provider failed. ``retryable`` errors are retried with backoff."""

    retryable = False

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


class ProviderRateLimited(ProviderError):
    retryable = True


class ProviderUnavailable(ProviderError):
    retryable = True


class ProviderRejected(ProviderError):
    retryable = False
