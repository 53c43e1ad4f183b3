"""Tokens per UTC day and model, summed from the interactions themselves: the console's
fallback when the server has no usage rollups (``GET /{version}/usage``). One grouped
query over an id range (ids begin with their creation time) of the project's index."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from junction import ids
from junction.store.db import Database

_FIELDS = {
    "input_tokens": "total_input_tokens",
    "output_tokens": "total_output_tokens",
    "thought_tokens": "total_thought_tokens",
    "cached_tokens": "total_cached_tokens",
    "total_tokens": "total_tokens",
}


def _number(dialect: str, key: str) -> str:
    if dialect == "sqlite":
        return f"COALESCE(json_extract(u, '$.{key}'), 0)"
    return f"COALESCE((u ->> '{key}')::bigint, 0)"


def _parsed(dialect: str) -> str:
    """The usage column, parsed once per row (PostgreSQL: a jsonb cast)."""
    return "usage AS u" if dialect == "sqlite" else "usage::jsonb AS u"


def _ms(day: date) -> int:
    return int(datetime.combine(day, time(), UTC).timestamp() * 1000)


async def daily_usage(
    db: Database, project_id: str, start: date, end: date
) -> list[dict[str, Any]]:
    """One row per (day, model) from ``start`` to ``end`` inclusive, days in UTC."""
    sums = ", ".join(f"SUM({_number(db.dialect, key)}) AS {name}" for name, key in _FIELDS.items())
    rows = await db.fetchall(
        f"SELECT day, model, COUNT(*) AS interactions, {sums} FROM ("
        f"SELECT substr(created, 1, 10) AS day, COALESCE(model, agent, '') AS model, "
        f"{_parsed(db.dialect)} FROM interactions "
        "WHERE project_id = $1 AND id >= $2 AND id < $3"
        f"{'' if db.dialect == 'sqlite' else ' OFFSET 0'}"  # PostgreSQL: no inlining
        ") AS rows GROUP BY day, model ORDER BY day, model",
        project_id,
        ids.id_floor("v1_", _ms(start)),
        ids.id_floor("v1_", _ms(end + timedelta(days=1))),
    )
    return [
        {
            "day": r["day"],
            "model": r["model"],
            "interactions": int(r["interactions"]),
            **{name: int(r[name] or 0) for name in _FIELDS},
        }
        for r in rows
    ]
