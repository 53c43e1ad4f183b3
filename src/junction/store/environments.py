"""Environment rows, scoped by project."""

from __future__ import annotations

from typing import Any

from junction import jsonutil
from junction.store.db import Database, Row

_COLUMNS = (
    "id, project_id, status, mode, network, sources, custom_config, created, updated, "
    "last_accessed, system_instruction, env_sealed"
)


def _decode(row: Row) -> dict[str, Any]:
    out = dict(row)
    out["network"] = jsonutil.loads(row["network"])
    out["sources"] = jsonutil.loads(row["sources"])
    out["custom_config"] = jsonutil.loads(row["custom_config"]) if row["custom_config"] else None
    return out


class EnvironmentRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, env: dict[str, Any]) -> None:
        await self.db.execute(
            f"INSERT INTO environments ({_COLUMNS}) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8, $9, $10)",
            env["id"],
            env["project_id"],
            env["status"],
            env["mode"],
            jsonutil.dumps(env["network"]),
            jsonutil.dumps(env["sources"]),
            jsonutil.dumps(env["custom_config"]) if env.get("custom_config") else None,
            env["created"],
            env.get("system_instruction"),
            env.get("env_sealed"),
        )

    async def update_spec(
        self,
        project_id: str,
        env_id: str,
        network: Any,
        sources: list[Any],
        env_sealed: str | None,
        now: str,
    ) -> None:
        """An interaction's update of an existing environment (REFERENCE 8.2)."""
        await self.db.execute(
            "UPDATE environments SET network = $1, sources = $2, env_sealed = $3, updated = $4 "
            "WHERE id = $5 AND project_id = $6",
            jsonutil.dumps(network),
            jsonutil.dumps(sources),
            env_sealed,
            now,
            env_id,
            project_id,
        )

    async def get(self, project_id: str, env_id: str) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM environments WHERE id = $1 AND project_id = $2",
            env_id,
            project_id,
        )
        return _decode(row) if row else None

    async def page(
        self, project_id: str, mode: str | None, limit: int, after: str | None
    ) -> list[dict[str, Any]]:
        sql = f"SELECT {_COLUMNS} FROM environments WHERE project_id = $1 AND id > $2"
        args: list[Any] = [project_id, after or ""]
        if mode:
            sql += " AND mode = $3"
            args.append(mode)
        sql += f" ORDER BY id LIMIT ${len(args) + 1}"
        rows = await self.db.fetchall(sql, *args, limit)
        return [_decode(r) for r in rows]

    async def touch(self, env_id: str, now: str) -> None:
        await self.db.execute(
            "UPDATE environments SET last_accessed = $1 WHERE id = $2", now, env_id
        )

    async def set_status(self, env_id: str, status: str, now: str) -> None:
        await self.db.execute(
            "UPDATE environments SET status = $1, updated = $2 WHERE id = $3", status, now, env_id
        )

    async def idle(self, before: str, limit: int = 100) -> list[str]:
        """Active environments idle since ``before``, except those of projects with their
        own idle period (the retention job expires those)."""
        rows = await self.db.fetchall(
            "SELECT id FROM environments WHERE status = 'active' AND last_accessed < $1 "
            "AND project_id NOT IN (SELECT project_id FROM project_retention "
            "WHERE environment_idle_seconds IS NOT NULL) LIMIT $2",
            before,
            limit,
        )
        return [r["id"] for r in rows]

    async def delete(self, project_id: str, env_id: str) -> bool:
        return (
            await self.db.execute(
                "DELETE FROM environments WHERE id = $1 AND project_id = $2", env_id, project_id
            )
            == 1
        )

    async def count_active(self, project_id: str) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM environments WHERE project_id = $1 AND status = 'active'",
            project_id,
        )
        return int(row["n"]) if row else 0
