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
    #: the interaction working in the session's environment now (or last)
    running_interaction: str | None = None


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
            running_interaction=row["running_interaction"],
        )

    async def insert(self, session: MenderSession) -> None:
        await self.db.execute(
            "INSERT INTO code_mender_sessions (project_id, id, model, environment_id, "
            "max_rounds, findings, interactions, created, updated, running_interaction) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            session.project_id,
            session.id,
            session.model,
            session.environment_id,
            session.max_rounds,
            jsonutil.dumps(session.findings),
            session.interactions,
            session.created,
            session.updated,
            session.running_interaction,
        )

    async def take(self, session: MenderSession, interaction_id: str, stale_before: str) -> bool:
        """Make ``interaction_id`` the session's running interaction (and count it), unless
        another one still runs: its row queued or in progress, or not written yet and the
        session touched since ``stale_before`` (a create that failed after taking the
        session frees it by then). One statement: of two at once, one wins."""
        taken = await self.db.execute(
            "UPDATE code_mender_sessions SET running_interaction = $3, "
            "interactions = interactions + 1, max_rounds = $4, updated = $5 "
            "WHERE project_id = $1 AND id = $2 AND (running_interaction IS NULL "
            "OR EXISTS (SELECT 1 FROM interactions i WHERE i.project_id = $1 "
            "AND i.id = code_mender_sessions.running_interaction "
            "AND i.status NOT IN ('queued', 'in_progress')) "
            "OR (updated < $6 AND NOT EXISTS (SELECT 1 FROM interactions i "
            "WHERE i.project_id = $1 AND i.id = code_mender_sessions.running_interaction)))",
            session.project_id,
            session.id,
            interaction_id,
            session.max_rounds,
            session.updated,
            stale_before,
        )
        return taken == 1

    async def release(self, project_id: str, session_id: str, interaction_id: str) -> None:
        """Free the session if ``interaction_id`` holds it (its create failed)."""
        await self.db.execute(
            "UPDATE code_mender_sessions SET running_interaction = NULL "
            "WHERE project_id = $1 AND id = $2 AND running_interaction = $3",
            project_id,
            session_id,
            interaction_id,
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
