"""The server-side token budget per project and UTC day.

Every run adds the tokens it used to ``project_usage`` when it ends; a run checks the
day's total (re-read at most once a second) plus its own tokens before each model call
and ends ``budget_exceeded`` once the project's budget is spent. ``0`` means no budget.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from junction.store.db import Database


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


class ProjectBudget:
    def __init__(self, db: Database, daily_tokens: int) -> None:
        self.db = db
        self.daily_tokens = daily_tokens
        self._cache: dict[str, tuple[int, float]] = {}

    async def used_today(self, project_id: str) -> int:
        cached = self._cache.get(project_id)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        row = await self.db.fetchone(
            "SELECT tokens FROM project_usage WHERE project_id = $1 AND day = $2",
            project_id,
            today(),
        )
        used = int(row["tokens"]) if row else 0
        self._cache[project_id] = (used, time.monotonic() + 1.0)
        return used

    async def exceeded(self, project_id: str, running: int) -> str | None:
        """Why the project may not spend more (``running``: this run's unrecorded tokens)."""
        if self.daily_tokens <= 0:
            return None
        used = await self.used_today(project_id) + running
        if used < self.daily_tokens:
            return None
        return (
            f"the project used {used} tokens today, its daily budget is "
            f"{self.daily_tokens} (JUNCTION_PROJECT_DAILY_TOKENS); the work so far is kept"
        )

    async def record(self, project_id: str, tokens: int) -> None:
        if tokens <= 0:
            return
        await self.db.execute(
            "INSERT INTO project_usage (project_id, day, tokens) VALUES ($1, $2, $3) "
            "ON CONFLICT (project_id, day) DO UPDATE SET tokens = project_usage.tokens + $3",
            project_id,
            today(),
            tokens,
        )
        self._cache.pop(project_id, None)
