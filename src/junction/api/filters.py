"""Query parameters of the interaction listing (Junction's addition): status, model,
agent and a creation-time range, turned into the store's indexed filters."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request

from junction import ids
from junction.errors import BadRequest
from junction.store.interactions import ListFilters
from junction.store.records import RUNNING, TERMINAL

STATUSES = frozenset(RUNNING | TERMINAL)
MAX_VALUE = 256


def _text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if len(value) > MAX_VALUE:
        raise BadRequest(f"query parameter {name} is longer than {MAX_VALUE} characters")
    return value


def _time(request: Request, name: str) -> int | None:
    """An RFC 3339 time (``2026-11-30T12:00:00Z``) or a day (``2026-11-30``) as epoch ms."""
    value = _text(request, name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            f"query parameter {name} must be a time like 2026-11-30T12:00:00Z or a day like "
            f"2026-11-30, not '{value}'"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def list_filters(request: Request) -> ListFilters:
    status = _text(request, "status")
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(sorted(STATUSES))}, not '{status}'")
    after, before = _time(request, "after"), _time(request, "before")
    if after is not None and before is not None and after >= before:
        raise BadRequest("after must be earlier than before")
    return ListFilters(
        status=status,
        model=_text(request, "model"),
        agent=_text(request, "agent"),
        id_low=None if after is None else ids.id_floor("v1_", after),
        id_high=None if before is None else ids.id_floor("v1_", before),
    )
