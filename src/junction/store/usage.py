"""The daily usage rollup: tokens, interactions and cost per project, UTC day, API key
and model. Runs add to it when they end (with the project's daily budget row, in one
transaction); ``GET /{version}/usage`` reads it, always scoped to one project."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from junction.store.db import Conn, Database

#: the dimensions a report may be grouped by, and their columns
GROUPS = {"day": "day", "model": "model", "api_key": "api_key_id"}


@dataclass(frozen=True)
class UsageDelta:
    """What one run adds to its project's day (all counts are increments)."""

    project_id: str
    day: str
    api_key_id: str
    model: str
    interactions: int
    input_tokens: int
    output_tokens: int
    thought_tokens: int
    cached_tokens: int
    cost: float

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.thought_tokens

    @property
    def counts(self) -> bool:
        """Whether it adds anything to the rollups."""
        return self.tokens > 0 or self.interactions > 0 or self.cost > 0


def merge(deltas: list[UsageDelta]) -> list[UsageDelta]:
    """Deltas summed per (project, day, API key, model), in key order: concurrent
    writers lock the same rows in the same order (no deadlock between processes)."""
    sums: dict[tuple[str, str, str, str], UsageDelta] = {}
    for d in deltas:
        key = (d.project_id, d.day, d.api_key_id, d.model)
        old = sums.get(key)
        sums[key] = (
            d
            if old is None
            else UsageDelta(
                *key,
                interactions=old.interactions + d.interactions,
                input_tokens=old.input_tokens + d.input_tokens,
                output_tokens=old.output_tokens + d.output_tokens,
                thought_tokens=old.thought_tokens + d.thought_tokens,
                cached_tokens=old.cached_tokens + d.cached_tokens,
                cost=old.cost + d.cost,
            )
        )
    return [sums[key] for key in sorted(sums)]


def per_day(deltas: list[UsageDelta]) -> list[tuple[str, str, int, float]]:
    """(project, day, tokens, cost) of ``deltas``, summed, in key order."""
    days: dict[tuple[str, str], tuple[int, float]] = {}
    for d in deltas:
        tokens, cost = days.get((d.project_id, d.day), (0, 0.0))
        days[(d.project_id, d.day)] = (tokens + d.tokens, cost + d.cost)
    return [(project, day, tokens, cost) for (project, day), (tokens, cost) in sorted(days.items())]


async def add_usage(tx: Conn, deltas: list[UsageDelta]) -> None:
    """Add ``deltas`` (merged, see :func:`merge`) to both rollups inside ``tx``."""
    await tx.executemany(
        "INSERT INTO project_usage (project_id, day, tokens, cost) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (project_id, day) DO UPDATE SET "
        "tokens = project_usage.tokens + $3, cost = project_usage.cost + $4",
        per_day(deltas),
    )
    await tx.executemany(
        "INSERT INTO usage_daily (project_id, day, api_key_id, model, interactions, "
        "input_tokens, output_tokens, thought_tokens, cached_tokens, cost) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        "ON CONFLICT (project_id, day, api_key_id, model) DO UPDATE SET "
        "interactions = usage_daily.interactions + $5, "
        "input_tokens = usage_daily.input_tokens + $6, "
        "output_tokens = usage_daily.output_tokens + $7, "
        "thought_tokens = usage_daily.thought_tokens + $8, "
        "cached_tokens = usage_daily.cached_tokens + $9, "
        "cost = usage_daily.cost + $10",
        [
            (
                d.project_id,
                d.day,
                d.api_key_id,
                d.model,
                d.interactions,
                d.input_tokens,
                d.output_tokens,
                d.thought_tokens,
                d.cached_tokens,
                d.cost,
            )
            for d in deltas
        ],
    )


class UsageStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, deltas: list[UsageDelta]) -> None:
        merged = merge(deltas)
        async with self.db.transaction() as tx:
            await add_usage(tx, merged)

    async def report(
        self, project_id: str, start: str, end: str, group_by: list[str]
    ) -> list[dict[str, Any]]:
        """Rows of the project's usage between two UTC days (inclusive), summed over
        everything not in ``group_by`` (names from :data:`GROUPS`), in group order."""
        columns = [GROUPS[g] for g in group_by]
        keys = ", ".join(columns)
        select = (keys + ", ") if keys else ""
        rows = await self.db.fetchall(
            f"SELECT {select}SUM(interactions) AS interactions, "
            "SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, "
            "SUM(thought_tokens) AS thought_tokens, SUM(cached_tokens) AS cached_tokens, "
            "SUM(cost) AS cost FROM usage_daily "
            "WHERE project_id = $1 AND day >= $2 AND day <= $3"
            + (f" GROUP BY {keys} ORDER BY {keys}" if keys else ""),
            project_id,
            start,
            end,
        )
        out = []
        for row in rows:
            if row["interactions"] is None:
                continue  # no usage at all in the range (an ungrouped SUM gives NULLs)
            item: dict[str, Any] = {g: row[GROUPS[g]] for g in group_by}
            counts = {
                k: int(row[k])
                for k in (
                    "interactions",
                    "input_tokens",
                    "output_tokens",
                    "thought_tokens",
                    "cached_tokens",
                )
            }
            item.update(counts)
            item["total_tokens"] = (
                counts["input_tokens"] + counts["output_tokens"] + counts["thought_tokens"]
            )
            item["cost"] = round(float(row["cost"]), 9)
            out.append(item)
        return out
