"""Custom agent rows, scoped by project."""

from __future__ import annotations

from typing import Any

from junction import jsonutil
from junction.store.db import Database


class AgentRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, project_id: str, agent_id: str, data: dict[str, Any], now: str) -> None:
        await self.db.execute(
            "INSERT INTO agents (project_id, id, data, created) VALUES ($1, $2, $3, $4)",
            project_id,
            agent_id,
            jsonutil.dumps(data),
            now,
        )

    async def get(self, project_id: str, agent_id: str) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            "SELECT data FROM agents WHERE project_id = $1 AND id = $2", project_id, agent_id
        )
        if row is None:
            return None
        data: dict[str, Any] = jsonutil.loads(row["data"])
        return data

    async def page(self, project_id: str, limit: int, after: str | None) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT data FROM agents WHERE project_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            project_id,
            after or "",
            limit,
        )
        return [jsonutil.loads(r["data"]) for r in rows]

    async def delete(self, project_id: str, agent_id: str) -> bool:
        return (
            await self.db.execute(
                "DELETE FROM agents WHERE project_id = $1 AND id = $2", project_id, agent_id
            )
            == 1
        )
