"""Every query of retention, export and whole-project deletion. Deletes work on explicit
batches of interaction ids, so every statement touches a bounded number of rows and
every transaction is short (runs keep writing between batches)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from junction.store.db import Conn, Database
from junction.store.interactions import _COLUMNS
from junction.store.records import InteractionRecord

POLICY_FIELDS = ("interactions_days", "events_days", "media_days", "environment_idle_seconds")
#: statuses whose rows no run writes any more
RESTING = ("completed", "failed", "cancelled", "incomplete", "requires_action")
_RESTING_SQL = "(" + ", ".join(f"'{s}'" for s in RESTING) + ")"


def _in(first: int, count: int) -> str:
    return "(" + ", ".join(f"${first + i}" for i in range(count)) + ")"


class RetentionRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- policies -----------------------------------------------------------------------
    async def policy(self, project_id: str) -> dict[str, Any]:
        row = await self.db.fetchone(
            "SELECT * FROM project_retention WHERE project_id = $1", project_id
        )
        return dict(row) if row else {}

    async def set_policy(self, project_id: str, values: dict[str, float | None], now: str) -> None:
        """Set the given fields (None clears an override back to the default)."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO project_retention (project_id, updated) VALUES ($1, $2) "
                "ON CONFLICT (project_id) DO NOTHING",
                project_id,
                now,
            )
            for field, value in values.items():
                assert field in POLICY_FIELDS
                await tx.execute(
                    f"UPDATE project_retention SET {field} = $1, updated = $2 "
                    "WHERE project_id = $3",
                    value,
                    now,
                    project_id,
                )

    async def set_events_watermark(self, project_id: str, created: str, now: str) -> None:
        await self.db.execute(
            "INSERT INTO project_retention (project_id, events_purged_until, updated) "
            "VALUES ($1, $2, $3) ON CONFLICT (project_id) DO UPDATE SET "
            "events_purged_until = $2, updated = $3",
            project_id,
            created,
            now,
        )

    async def projects(self) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT p.id, p.name, r.interactions_days, r.events_days, r.media_days, "
            "r.environment_idle_seconds, r.events_purged_until FROM projects p "
            "LEFT JOIN project_retention r ON r.project_id = p.id ORDER BY p.name"
        )
        return [dict(r) for r in rows]

    # -- batches ------------------------------------------------------------------------
    async def expired_interactions(self, project_id: str, before: str, limit: int) -> list[str]:
        """Ids of the project's resting interactions created before ``before``."""
        rows = await self.db.fetchall(
            "SELECT id FROM interactions WHERE project_id = $1 AND created < $2 "
            f"AND status IN {_RESTING_SQL} ORDER BY created LIMIT $3",
            project_id,
            before,
            limit,
        )
        return [str(r["id"]) for r in rows]

    async def interactions_after(
        self, project_id: str, after: str, before: str, limit: int
    ) -> list[tuple[str, str, str]]:
        """``(id, created, status)`` of interactions created in ``[after, before)``."""
        rows = await self.db.fetchall(
            "SELECT id, created, status FROM interactions WHERE project_id = $1 "
            "AND created >= $2 AND created < $3 ORDER BY created LIMIT $4",
            project_id,
            after,
            before,
            limit,
        )
        return [(str(r["id"]), str(r["created"]), str(r["status"])) for r in rows]

    async def delete_events(self, interaction_ids: Sequence[str]) -> int:
        if not interaction_ids:
            return 0
        return await self.db.execute(
            f"DELETE FROM events WHERE interaction_id IN {_in(1, len(interaction_ids))}",
            *interaction_ids,
        )

    async def delete_interactions(self, project_id: str, interaction_ids: Sequence[str]) -> int:
        """Delete interactions with their steps, events, (where they head it) chain, and
        continuation hop rows and the tokens they issued."""
        if not interaction_ids:
            return 0
        ids_in = _in(2, len(interaction_ids))
        async with self.db.transaction() as tx:
            deleted = await tx.execute(
                f"DELETE FROM interactions WHERE project_id = $1 AND id IN {ids_in}",
                project_id,
                *interaction_ids,
            )
            await tx.execute(
                f"DELETE FROM steps WHERE project_id = $1 AND interaction_id IN {ids_in}",
                project_id,
                *interaction_ids,
            )
            await tx.execute(
                f"DELETE FROM chains WHERE project_id = $1 AND head_interaction_id IN {ids_in}",
                project_id,
                *interaction_ids,
            )
            await tx.execute(
                f"DELETE FROM events WHERE interaction_id IN {_in(1, len(interaction_ids))}",
                *interaction_ids,
            )
            await tx.execute(
                "DELETE FROM continuation_hops WHERE project_id = $1 "
                f"AND interaction_id IN {ids_in}",
                project_id,
                *interaction_ids,
            )
            await tx.execute(
                f"DELETE FROM continuation_tokens WHERE project_id = $1 AND issuer_id IN {ids_in}",
                project_id,
                *interaction_ids,
            )
        return deleted

    async def purge_continuation_tokens(self, project_id: str, now_ms: int, limit: int) -> int:
        """Delete up to ``limit`` of the project's expired continuation tokens."""
        return await self.db.execute(
            "DELETE FROM continuation_tokens WHERE project_id = $1 AND token_hash IN "
            "(SELECT token_hash FROM continuation_tokens WHERE project_id = $1 "
            "AND expires_ms <= $2 LIMIT $3)",
            project_id,
            now_ms,
            limit,
        )

    async def any_interactions(self, project_id: str, limit: int) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT id FROM interactions WHERE project_id = $1 ORDER BY id LIMIT $2",
            project_id,
            limit,
        )
        return [str(r["id"]) for r in rows]

    async def delete_batch(self, table: str, project_id: str, limit: int) -> int:
        """Delete up to ``limit`` rows of a project's table (keyed by ``id``)."""
        return await self.db.execute(
            f"DELETE FROM {table} WHERE project_id = $1 AND id IN "
            f"(SELECT id FROM {table} WHERE project_id = $1 LIMIT $2)",
            project_id,
            limit,
        )

    async def delete_all(self, table: str, project_id: str) -> int:
        return await self.db.execute(f"DELETE FROM {table} WHERE project_id = $1", project_id)

    async def environments(self, project_id: str, limit: int) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT id FROM environments WHERE project_id = $1 ORDER BY id LIMIT $2",
            project_id,
            limit,
        )
        return [str(r["id"]) for r in rows]

    async def delete_environment(self, project_id: str, env_id: str) -> int:
        return await self.db.execute(
            "DELETE FROM environments WHERE project_id = $1 AND id = $2", project_id, env_id
        )

    async def idle_environments(self, project_id: str, before: str, limit: int) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT id FROM environments WHERE project_id = $1 AND status = 'active' "
            "AND last_accessed < $2 LIMIT $3",
            project_id,
            before,
            limit,
        )
        return [str(r["id"]) for r in rows]

    # -- export -------------------------------------------------------------------------
    async def export_page(
        self, project_id: str, after_id: str, limit: int, conn: Conn | None = None
    ) -> list[InteractionRecord]:
        rows = await (conn or self.db).fetchall(
            f"SELECT {_COLUMNS} FROM interactions WHERE project_id = $1 AND id > $2 "
            "ORDER BY id LIMIT $3",
            project_id,
            after_id,
            limit,
        )
        return [InteractionRecord.from_row(r) for r in rows]
