"""SQL for triggers and their executions (the same statements on SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from junction import jsonutil
from junction.schedule.records import ExecutionRecord, TriggerRecord
from junction.store.db import Conn, Database

_TRIGGER_COLUMNS = tuple(TriggerRecord.__dataclass_fields__)
_EXECUTION_COLUMNS = tuple(ExecutionRecord.__dataclass_fields__)
_UPDATABLE = frozenset(_TRIGGER_COLUMNS) - {"id", "project_id", "created"}


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def _in(values: list[str], start: int) -> str:
    return "(" + ", ".join(f"${start + i}" for i in range(len(values))) + ")"


class TriggerStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- triggers -----------------------------------------------------------------------
    async def insert(self, tx: Conn, record: TriggerRecord) -> None:
        values = [getattr(record, c) for c in _TRIGGER_COLUMNS]
        values[_TRIGGER_COLUMNS.index("interaction")] = jsonutil.dumps(record.interaction)
        await tx.execute(_insert_sql("triggers", _TRIGGER_COLUMNS), *values)

    async def count(self, tx: Conn, project_id: str) -> int:
        row = await tx.fetchone(
            "SELECT COUNT(*) AS n FROM triggers WHERE project_id = $1", project_id
        )
        return int(row["n"]) if row else 0

    async def get(
        self, project_id: str, trigger_id: str, tx: Conn | None = None
    ) -> TriggerRecord | None:
        row = await (tx or self.db).fetchone(
            "SELECT * FROM triggers WHERE project_id = $1 AND id = $2", project_id, trigger_id
        )
        return TriggerRecord.from_row(row) if row else None

    async def page(
        self, project_id: str, statuses: list[str], limit: int, before: str | None
    ) -> list[TriggerRecord]:
        sql = "SELECT * FROM triggers WHERE project_id = $1"
        args: list[Any] = [project_id]
        if before:
            args.append(before)
            sql += f" AND id < ${len(args)}"
        if statuses:
            sql += f" AND status IN {_in(statuses, len(args) + 1)}"
            args += statuses
        rows = await self.db.fetchall(sql + f" ORDER BY id DESC LIMIT {int(limit)}", *args)
        return [TriggerRecord.from_row(r) for r in rows]

    async def update(self, tx: Conn, trigger_id: str, **fields: Any) -> None:
        assert fields and set(fields) <= _UPDATABLE
        names = list(fields)
        sets = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, 2))
        await tx.execute(f"UPDATE triggers SET {sets} WHERE id = $1", trigger_id, *fields.values())

    async def delete(self, project_id: str, trigger_id: str) -> bool:
        async with self.db.transaction() as tx:
            gone = await tx.execute(
                "DELETE FROM triggers WHERE project_id = $1 AND id = $2", project_id, trigger_id
            )
            await tx.execute("DELETE FROM trigger_executions WHERE trigger_id = $1", trigger_id)
        return gone > 0

    async def claim_due(self, tx: Conn, now_ms: int, limit: int) -> list[TriggerRecord]:
        """Up to ``limit`` active triggers whose next time has come, locked for this
        transaction (skipped by other processes on PostgreSQL; SQLite transactions are
        serial)."""
        lock = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgresql" else ""
        rows = await tx.fetchall(
            "SELECT * FROM triggers WHERE status = 'active' AND next_run_ms <= $1 "
            f"ORDER BY next_run_ms LIMIT {int(limit)}" + lock,
            now_ms,
        )
        return [TriggerRecord.from_row(r) for r in rows]

    async def soonest(self) -> int | None:
        row = await self.db.fetchone(
            "SELECT MIN(next_run_ms) AS soonest FROM triggers WHERE status = 'active'"
        )
        return int(row["soonest"]) if row and row["soonest"] is not None else None

    async def lock_trigger(self, tx: Conn, trigger_id: str) -> None:
        """Lock the trigger's row for ``tx`` before its executions' rows, the order a
        delete takes them in (the other order deadlocked with a delete on PostgreSQL;
        SQLite transactions are serial)."""
        if self.db.dialect == "postgresql":
            await tx.execute("SELECT 1 FROM triggers WHERE id = $1 FOR UPDATE", trigger_id)

    async def record_outcome(self, tx: Conn, trigger_id: str, failed: bool, now: str) -> bool:
        """Count a success or a failure; True when the failure paused the trigger
        (status ``error``: ``max_consecutive_failures`` reached)."""
        if not failed:
            await tx.execute(
                "UPDATE triggers SET consecutive_failure_count = 0 WHERE id = $1", trigger_id
            )
            return False
        await tx.execute(
            "UPDATE triggers SET consecutive_failure_count = consecutive_failure_count + 1 "
            "WHERE id = $1",
            trigger_id,
        )
        paused = await tx.execute(
            "UPDATE triggers SET status = 'error', next_run_ms = NULL, last_pause_time = $2, "
            "updated = $2 WHERE id = $1 AND status = 'active' "
            "AND max_consecutive_failures IS NOT NULL "
            "AND consecutive_failure_count >= max_consecutive_failures",
            trigger_id,
            now,
        )
        return paused > 0

    # -- executions ---------------------------------------------------------------------
    async def insert_execution(self, tx: Conn, record: ExecutionRecord) -> None:
        values = [getattr(record, c) for c in _EXECUTION_COLUMNS]
        await tx.execute(_insert_sql("trigger_executions", _EXECUTION_COLUMNS), *values)

    async def running(self, tx: Conn, trigger_id: str) -> str | None:
        row = await tx.fetchone(
            "SELECT id FROM trigger_executions WHERE trigger_id = $1 AND status = 'in_progress' "
            "LIMIT 1",
            trigger_id,
        )
        return str(row["id"]) if row else None

    async def prune(self, tx: Conn, trigger_id: str, keep: int) -> None:
        """Keep the newest ``keep`` executions of a trigger (running ones always stay)."""
        await tx.execute(
            "DELETE FROM trigger_executions WHERE trigger_id = $1 AND status <> 'in_progress' "
            "AND id < (SELECT id FROM trigger_executions WHERE trigger_id = $1 "
            f"ORDER BY id DESC LIMIT 1 OFFSET {int(keep) - 1})",
            trigger_id,
        )

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        row = await self.db.fetchone("SELECT * FROM trigger_executions WHERE id = $1", execution_id)
        return ExecutionRecord.from_row(row) if row else None

    async def page_executions(
        self, project_id: str, trigger_id: str, statuses: list[str], limit: int, before: str | None
    ) -> list[ExecutionRecord]:
        sql = "SELECT * FROM trigger_executions WHERE project_id = $1 AND trigger_id = $2"
        args: list[Any] = [project_id, trigger_id]
        if before:
            args.append(before)
            sql += f" AND id < ${len(args)}"
        if statuses:
            sql += f" AND status IN {_in(statuses, len(args) + 1)}"
            args += statuses
        rows = await self.db.fetchall(sql + f" ORDER BY id DESC LIMIT {int(limit)}", *args)
        return [ExecutionRecord.from_row(r) for r in rows]

    async def unstarted(self, lease_now_ms: int) -> list[ExecutionRecord]:
        """Running executions whose interaction was never created by the process that
        fired them (it died): their start lease has lapsed."""
        rows = await self.db.fetchall(
            "SELECT * FROM trigger_executions WHERE status = 'in_progress' "
            "AND interaction_id IS NULL AND start_lease_ms < $1 LIMIT 50",
            lease_now_ms,
        )
        return [ExecutionRecord.from_row(r) for r in rows]

    async def take_start_lease(self, execution_id: str, old: int, new: int) -> bool:
        changed = await self.db.execute(
            "UPDATE trigger_executions SET start_lease_ms = $3 WHERE id = $1 "
            "AND start_lease_ms = $2 AND interaction_id IS NULL AND status = 'in_progress'",
            execution_id,
            old,
            new,
        )
        return changed > 0

    async def set_interaction(
        self, execution: ExecutionRecord, interaction_id: str, environment_id: str | None
    ) -> bool:
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE trigger_executions SET interaction_id = $2, environment_id = $3 "
                "WHERE id = $1 AND status = 'in_progress' AND interaction_id IS NULL",
                execution.id,
                interaction_id,
                environment_id,
            )
            if changed:
                await tx.execute(
                    "UPDATE triggers SET previous_interaction_id = $2 WHERE id = $1",
                    execution.trigger_id,
                    interaction_id,
                )
        return changed > 0

    async def ended(self) -> list[tuple[ExecutionRecord, str | None, str | None]]:
        """Running executions whose interaction has ended (or was deleted), with the
        interaction's status and errors."""
        rows = await self.db.fetchall(
            "SELECT e.*, i.status AS interaction_status, i.errors AS interaction_errors "
            "FROM trigger_executions e LEFT JOIN interactions i ON i.id = e.interaction_id "
            "WHERE e.status = 'in_progress' AND e.interaction_id IS NOT NULL "
            "AND (i.id IS NULL OR i.status NOT IN ('queued', 'in_progress')) LIMIT 200"
        )
        return [
            (ExecutionRecord.from_row(r), r["interaction_status"], r["interaction_errors"])
            for r in rows
        ]

    async def overdue(self, now_ms: int) -> list[ExecutionRecord]:
        rows = await self.db.fetchall(
            "SELECT * FROM trigger_executions WHERE status = 'in_progress' "
            "AND deadline_ms IS NOT NULL AND deadline_ms <= $1 LIMIT 50",
            now_ms,
        )
        return [ExecutionRecord.from_row(r) for r in rows]

    async def finish(
        self, tx: Conn, execution_id: str, status: str, end_time: str, error: str | None
    ) -> ExecutionRecord | None:
        """End a running execution (compare-and-set: None when another process did)."""
        changed = await tx.execute(
            "UPDATE trigger_executions SET status = $2, end_time = $3, error = $4 "
            "WHERE id = $1 AND status = 'in_progress'",
            execution_id,
            status,
            end_time,
            error,
        )
        if not changed:
            return None
        row = await tx.fetchone("SELECT * FROM trigger_executions WHERE id = $1", execution_id)
        return ExecutionRecord.from_row(row) if row else None
