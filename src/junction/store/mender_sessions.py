"""Code-mender session rows (``agent_config.session_id``), scoped by project."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from junction import jsonutil
from junction.store.db import Database


@dataclass
class MenderSession:
    project_id: str
    id: str
    model: str
    environment_id: str
    max_rounds: int
    #: finding id → finding (as the agent reported it, plus ``verified``/``fixed_by``)
    findings: dict[str, dict[str, Any]] = field(default_factory=dict)
    interactions: int = 0
    created: str = ""
    updated: str = ""


class MenderSessionRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, project_id: str, session_id: str) -> MenderSession | None:
        row = await self.db.fetchone(
            "SELECT * FROM code_mender_sessions WHERE project_id = $1 AND id = $2",
            project_id,
            session_id,
        )
        if row is None:
            return None
        return MenderSession(
            project_id=row["project_id"],
            id=row["id"],
            model=row["model"],
            environment_id=row["environment_id"],
            max_rounds=int(row["max_rounds"]),
            findings=jsonutil.loads(row["findings"]),
            interactions=int(row["interactions"]),
            created=row["created"],
            updated=row["updated"],
        )

    async def insert(self, session: MenderSession) -> None:
        await self.db.execute(
            "INSERT INTO code_mender_sessions (project_id, id, model, environment_id, "
            "max_rounds, findings, interactions, created, updated) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            session.project_id,
            session.id,
            session.model,
            session.environment_id,
            session.max_rounds,
            jsonutil.dumps(session.findings),
            session.interactions,
            session.created,
            session.updated,
        )

    async def update(self, session: MenderSession) -> None:
        await self.db.execute(
            "UPDATE code_mender_sessions SET max_rounds = $3, findings = $4, "
            "interactions = $5, updated = $6 WHERE project_id = $1 AND id = $2",
            session.project_id,
            session.id,
            session.max_rounds,
            jsonutil.dumps(session.findings),
            session.interactions,
            session.updated,
        )

    async def count(self, project_id: str) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM code_mender_sessions WHERE project_id = $1", project_id
        )
        return int(row["n"]) if row else 0

    async def drop_least_recent(self, project_id: str, keep: int) -> int:
        """Delete the project's least recently used sessions so that ``keep`` remain."""
        rows = await self.db.fetchall(
            "SELECT id FROM code_mender_sessions WHERE project_id = $1 "
            "ORDER BY updated DESC, id DESC",
            project_id,
        )
        dropped = 0
        for row in rows[keep:]:
            dropped += await self.db.execute(
                "DELETE FROM code_mender_sessions WHERE project_id = $1 AND id = $2",
                project_id,
                row["id"],
            )
        return dropped
