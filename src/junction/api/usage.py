"""``GET /{version}/usage``: the caller's project's daily usage and cost (Junction's
addition, docs/usage.md), as JSON or CSV (``format=csv`` or ``Accept: text/csv``)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from junction.api.common import JSONResponse, project_of, services
from junction.errors import BadRequest
from junction.store.usage import GROUPS, UsageStore

#: the longest range one report covers, and the default (the last 30 days)
MAX_DAYS = 366
DEFAULT_DAYS = 30
COUNTS = (
    "interactions",
    "input_tokens",
    "output_tokens",
    "thought_tokens",
    "cached_tokens",
    "total_tokens",
    "cost",
)


def _day(request: Request, name: str, default: date) -> date:
    value = request.query_params.get(name)
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            f"query parameter {name} must be a UTC day as YYYY-MM-DD, not '{value}'"
        ) from None


def _groups(request: Request) -> list[str]:
    """``group_by``: distinct names from GROUPS, comma-separated; ``none`` for one total."""
    raw = request.query_params.get("group_by")
    if raw is None or raw.strip() == "":
        return ["day"]
    if raw.strip() == "none":
        return []
    groups = [g.strip() for g in raw.split(",") if g.strip()]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown or len(set(groups)) != len(groups):
        raise BadRequest(
            f"group_by '{raw}' is not valid: give a comma-separated list of distinct names "
            f"from {', '.join(GROUPS)} (or 'none' for one total)"
        )
    return groups


def _wants_csv(request: Request) -> bool:
    fmt = request.query_params.get("format")
    if fmt is not None and fmt not in ("", "json", "csv"):
        raise BadRequest(f"query parameter format must be json or csv, not '{fmt}'")
    if fmt:
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (a model id is client input) is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv(rows: list[dict[str, Any]], groups: list[str], currency: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*groups, *COUNTS, "currency"])
    for row in rows:
        writer.writerow(
            [*(_cell(row[g]) for g in groups), *(row[c] for c in COUNTS), _cell(currency)]
        )
    return out.getvalue()


async def get_usage(request: Request) -> Response:
    project_id = await project_of(request)
    today = datetime.now(UTC).date()
    end = _day(request, "end", today)
    start = _day(request, "start", end - timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise BadRequest(f"start ({start}) is after end ({end})")
    if (end - start).days + 1 > MAX_DAYS:
        raise BadRequest(f"a usage report covers at most {MAX_DAYS} days: narrow start/end")
    groups = _groups(request)
    as_csv = _wants_csv(request)
    svc = services(request)
    currency = svc.interactions.settings.price_currency
    rows = await UsageStore(svc.interactions.db).report(
        project_id, start.isoformat(), end.isoformat(), groups
    )
    if as_csv:
        return Response(
            _csv(rows, groups, currency),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="usage-{start}-{end}.csv"'},
        )
    return JSONResponse(
        {
            "object": "usage_report",
            "start": start.isoformat(),
            "end": end.isoformat(),
            "group_by": groups,
            "currency": currency,
            "usage": rows,
        }
    )


routes = [Route("/{version}/usage", get_usage, methods=["GET"])]
