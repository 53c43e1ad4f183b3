"""``GET /{version}/usage``: the caller's project's daily usage and cost (Junction's
addition, docs/usage.md), as JSON or CSV (``format=csv`` or ``Accept: text/csv``)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from junction.api.common import JSONResponse, project_of, services
from junction.api.spec import Raw, operation, query
from junction.errors import BadRequest
from junction.schema import answers
from junction.schema.params import UsageQuery
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


def _groups(raw: str | None) -> list[str]:
    """``group_by``: distinct names from GROUPS, comma-separated; ``none`` for one total."""
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


def _wants_csv(request: Request, fmt: str | None) -> bool:
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


@operation(
    summary="The project's daily usage and cost",
    tag="usage",
    query=UsageQuery,
    responses={
        200: (
            Raw("application/json", "the report", answers.UsageReport),
            Raw("text/csv", "with format=csv (or Accept: text/csv)", {"type": "string"}),
        )
    },
)
async def get_usage(request: Request) -> Response:
    project_id = await project_of(request)
    params = query(request, UsageQuery)
    today = datetime.now(UTC).date()
    end = params.end or today
    start = params.start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise BadRequest(f"start ({start}) is after end ({end})")
    if (end - start).days + 1 > MAX_DAYS:
        raise BadRequest(f"a usage report covers at most {MAX_DAYS} days: narrow start/end")
    groups = _groups(params.group_by)
    as_csv = _wants_csv(request, params.format)
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
