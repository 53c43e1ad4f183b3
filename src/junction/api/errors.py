"""Errors at the HTTP edge: Junction's and the sandbox layer's, in the SDK's error shape."""

from __future__ import annotations

import math

from starlette.responses import Response

from junction import jsonutil
from junction.errors import (
    ApiError,
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unavailable,
)
from junction.sandbox.errors import (
    FileNotFoundInSandbox,
    PathOutsideWorkspace,
    QuotaExceeded,
    SandboxError,
    SandboxExists,
    SandboxNotFound,
    SandboxUnavailable,
)
from junction.store.db import DatabaseBusy


def as_api_error(exc: Exception) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, DatabaseBusy):
        return Unavailable(str(exc))
    if not isinstance(exc, SandboxError):
        raise TypeError(exc)
    if isinstance(exc, SandboxNotFound | FileNotFoundInSandbox):
        return NotFound(exc.message)
    if isinstance(exc, QuotaExceeded):
        return PayloadTooLarge(exc.message)
    if isinstance(exc, SandboxUnavailable):
        return Unavailable(exc.message)
    if isinstance(exc, SandboxExists):
        return Conflict(exc.message)
    if isinstance(exc, PathOutsideWorkspace):
        return BadRequest(f"{exc.message} (paths are relative to the workspace)")
    return BadRequest(exc.message)


def error_response(exc: Exception) -> Response:
    error = as_api_error(exc)
    response = Response(
        jsonutil.dumpb(error.to_wire()),
        status_code=error.status_code,
        media_type="application/json",
    )
    if isinstance(error, TooManyRequests):
        response.headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return response
