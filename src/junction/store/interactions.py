"""Every query on interactions, chains, steps and events. All reads and writes take the
caller's ``project_id``: a row of another project is indistinguishable from a missing one.

History layout: a *chain* is a linear run of steps numbered by ``seq``. Continuing from
the chain's head appends to it; continuing from an older interaction copies the prefix
into a new chain (copy-on-branch, one INSERT … SELECT). So the history of any
interaction is one range scan: ``WHERE chain_id = ? AND seq <= ?``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from junction import jsonutil
from junction.store import queue
from junction.store.db import Conn, Database
from junction.store.deliveries import OutboxMessage, write_message
from junction.store.progress_batch import ProgressWrite, write_progress
from junction.store.records import InteractionRecord
from junction.store.usage import UsageDelta

_COLUMNS = (
    "id, project_id, status, model, agent, previous_interaction_id, chain_id, first_seq, "
    "last_seq, config, usage, errors, environment_id, background, cancel_requested, "
    "idempotency_key, lease_owner, lease_expires, fence, attempts, created, updated, "
    "api_key_id, trace_context"
)


@dataclass(frozen=True)
class ListFilters:
    """Filters of an interaction listing (None: any). ``id_low``/``id_high`` bound the
    ids (inclusive/exclusive): a creation-time range, since ids start with their time."""

    status: str | None = None
    model: str | None = None
    agent: str | None = None
    id_low: str | None = None
    id_high: str | None = None


def row_values(record: InteractionRecord) -> tuple[Any, ...]:
    """The interaction's columns (``_COLUMNS``, in order) as statement arguments."""
    return (
        record.id,
        record.project_id,
        record.status,
        record.model,
        record.agent,
        record.previous_interaction_id,
        record.chain_id,
        record.first_seq,
        record.last_seq,
        jsonutil.dumps(record.config),
        _json(record.usage),
        _json(record.errors),
        record.environment_id,
        int(record.background),
        int(record.cancel_requested),
        record.idempotency_key,
        record.lease_owner,
        record.lease_expires,
        record.fence,
        record.attempts,
        record.created,
        record.updated,
        record.api_key_id,
        record.trace_context,
    )


def _json(value: Any) -> str | None:
    """Optional JSON columns (usage, errors): NULL when empty."""
    return jsonutil.dumps(value) if value else None


class InteractionStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        #: the last claim found runs waiting only behind their project's cap
        self.capped_waiting = False
        #: the last batched claim got fewer runs than it planned (others took them)
        self.claim_contended = False

    # -- reads --------------------------------------------------------------------------
    async def get(
        self, project_id: str, interaction_id: str, conn: Conn | None = None
    ) -> InteractionRecord | None:
        row = await (conn or self.db).fetchone(
            f"SELECT {_COLUMNS} FROM interactions WHERE id = $1 AND project_id = $2",
            interaction_id,
            project_id,
        )
        return InteractionRecord.from_row(row) if row else None

    async def get_by_idempotency_key(self, project_id: str, key: str) -> InteractionRecord | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM interactions WHERE project_id = $1 AND idempotency_key = $2",
            project_id,
            key,
        )
        return InteractionRecord.from_row(row) if row else None

    async def load_steps(self, record: InteractionRecord) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT data FROM steps WHERE interaction_id = $1 AND chain_id = $2 ORDER BY seq",
            record.id,
            record.chain_id,
        )
        record.steps = [jsonutil.loads(r["data"]) for r in rows]
        return record.steps

    async def history(
        self, record: InteractionRecord, *, before_own: bool = False
    ) -> list[dict[str, Any]]:
        """Every step of the conversation up to and including ``record`` (or up to its
        own first step, ``before_own``): one range scan."""
        rows = await self.db.fetchall(
            "SELECT data FROM steps WHERE chain_id = $1 AND seq <= $2 ORDER BY seq",
            record.chain_id,
            record.first_seq - 1 if before_own else record.last_seq,
        )
        return [jsonutil.loads(r["data"]) for r in rows]

    async def list_page(
        self,
        project_id: str,
        limit: int,
        before_id: str | None,
        filters: ListFilters | None = None,
    ) -> list[InteractionRecord]:
        """Newest first; ``before_id`` is the keyset cursor. Each filter is an equality on an
        indexed column, the time range an id range: every page is one index range scan."""
        where = ["project_id = $1"]
        args: list[Any] = [project_id]

        def add(sql: str, value: Any) -> None:
            args.append(value)
            where.append(sql.replace("?", f"${len(args)}"))

        if before_id:
            add("id < ?", before_id)
        f = filters or ListFilters()
        for column in ("status", "model", "agent"):
            value = getattr(f, column)
            if value is not None:
                add(f"{column} = ?", value)
        if f.id_low is not None:
            add("id >= ?", f.id_low)
        if f.id_high is not None:
            add("id < ?", f.id_high)
        args.append(limit)
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM interactions WHERE {' AND '.join(where)} "
            f"ORDER BY id DESC LIMIT ${len(args)}",
            *args,
        )
        return [InteractionRecord.from_row(r) for r in rows]

    async def events_after(
        self, interaction_id: str, after_seq: int, limit: int = 1000
    ) -> list[tuple[int, str]]:
        rows = await self.db.fetchall(
            "SELECT seq, data FROM events WHERE interaction_id = $1 AND seq > $2 "
            "ORDER BY seq LIMIT $3",
            interaction_id,
            after_seq,
            limit,
        )
        return [(r["seq"], r["data"]) for r in rows]

    async def status_of(self, interaction_id: str) -> tuple[str, bool] | None:
        row = await self.db.fetchone(
            "SELECT status, cancel_requested FROM interactions WHERE id = $1", interaction_id
        )
        return (row["status"], bool(row["cancel_requested"])) if row else None

    async def count_queued(self) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) AS n FROM interactions WHERE status = 'queued'"
        )
        return int(row["n"]) if row else 0

    # -- writes (inside a caller's transaction) ---------------------------------------------
    async def insert(self, tx: Conn, record: InteractionRecord) -> None:
        await tx.execute(
            f"INSERT INTO interactions ({_COLUMNS}) VALUES "
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, "
            "$19, $20, $21, $22, $23, $24)",
            *row_values(record),
        )

    async def new_chain(
        self, tx: Conn, chain_id: str, project_id: str, head: str, now: str
    ) -> None:
        await tx.execute(
            "INSERT INTO chains (id, project_id, head_interaction_id, created) "
            "VALUES ($1, $2, $3, $4)",
            chain_id,
            project_id,
            head,
            now,
        )

    async def take_head(self, tx: Conn, previous: InteractionRecord, new_id: str) -> bool:
        """Extend ``previous``'s chain if it is still the head (compare-and-set)."""
        changed = await tx.execute(
            "UPDATE chains SET head_interaction_id = $1 WHERE id = $2 AND project_id = $3 "
            "AND head_interaction_id = $4",
            new_id,
            previous.chain_id,
            previous.project_id,
            previous.id,
        )
        return changed == 1

    async def copy_prefix(self, tx: Conn, previous: InteractionRecord, chain_id: str) -> None:
        await tx.execute(
            "INSERT INTO steps (chain_id, seq, interaction_id, project_id, type, data) "
            "SELECT $1, seq, interaction_id, project_id, type, data FROM steps "
            "WHERE chain_id = $2 AND seq <= $3",
            chain_id,
            previous.chain_id,
            previous.last_seq,
        )

    async def append_steps(
        self, tx: Conn, record: InteractionRecord, steps: Sequence[tuple[int, dict[str, Any]]]
    ) -> None:
        if steps:
            await tx.executemany(
                "INSERT INTO steps (chain_id, seq, interaction_id, project_id, type, data) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                [
                    (
                        record.chain_id,
                        seq,
                        record.id,
                        record.project_id,
                        s["type"],
                        jsonutil.dumps(s),
                    )
                    for seq, s in steps
                ],
            )

    async def append_events(
        self, tx: Conn, interaction_id: str, events: Iterable[tuple[int, str]]
    ) -> None:
        rows = [(interaction_id, seq, data) for seq, data in events]
        if rows:
            await tx.executemany(
                # An event is written again when a persist was interrupted after its
                # commit (a cancel landing mid-flush): the same (id, seq) is a no-op.
                "INSERT INTO events (interaction_id, seq, data) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                rows,
            )

    async def update_state(self, tx: Conn, record: InteractionRecord, *, expect: str) -> bool:
        """Write status/usage/errors/last_seq if the status is still ``expect`` and the
        run still holds the lease's fencing token (compare-and-set)."""
        changed = await tx.execute(
            "UPDATE interactions SET status = $1, usage = $2, errors = $3, last_seq = $4, "
            "updated = $5, environment_id = $9 WHERE id = $6 AND status = $7 AND fence = $8",
            record.status,
            _json(record.usage),
            _json(record.errors),
            record.last_seq,
            record.updated,
            record.id,
            expect,
            record.fence,
            record.environment_id,
        )
        return changed == 1

    async def write_progress(
        self,
        record: InteractionRecord,
        steps: Sequence[tuple[int, dict[str, Any]]],
        events: Sequence[tuple[int, str]],
        *,
        expect: str,
        outbox: tuple[OutboxMessage, int, str, int] | None = None,
        usage: UsageDelta | None = None,
    ) -> int | None:
        """PostgreSQL: a run's steps, events and state, written only if the
        compare-and-set on status and fence holds, group-committed with the other runs'
        writes of this process (:func:`junction.store.progress_batch.write_progress`:
        one statement, one commit per batch). With ``outbox`` (message, now ms, now,
        max pending) the static webhooks' delivery rows go in the same statement, and
        so does ``usage`` (the run's addition to the usage rollups, written whatever the
        compare-and-set).
        Returns once committed: ``None`` when the compare-and-set failed, else the
        number of delivery rows written."""
        message, max_pending = (outbox[0], outbox[3]) if outbox is not None else (None, 0)
        outcome = await write_progress(
            self.db, ProgressWrite(record, steps, events, expect, message, max_pending, usage)
        )
        return outcome.deliveries if outcome.written else None

    async def max_event_seq(self, interaction_id: str, conn: Conn | None = None) -> int:
        row = await (conn or self.db).fetchone(
            "SELECT MAX(seq) AS m FROM events WHERE interaction_id = $1", interaction_id
        )
        return int(row["m"]) if row and row["m"] is not None else 0

    # -- leases ---------------------------------------------------------------------------
    async def claim(
        self,
        owner: str,
        now_ms: int,
        lease_ms: int,
        now: str,
        *,
        max_running: int = 0,
        weights: Mapping[str, float] | None = None,
    ) -> InteractionRecord | None:
        """Take one runnable interaction (queued, or running on an expired lease), fairly
        between projects (:mod:`junction.store.queue`; ``max_running``: a project's cap
        of runs at once, 0 for none; ``weights``: shares by project name). A claim
        statement on PostgreSQL (``FOR UPDATE SKIP LOCKED``, :meth:`claim_many`), an
        immediate transaction on SQLite. The fencing token is bumped so a previous owner
        can no longer write."""
        if self.db.dialect == "postgresql":
            claimed = await self.claim_many(
                owner, now_ms, lease_ms, now, 1, max_running=max_running, weights=weights
            )
            return claimed[0] if claimed else None
        async with self.db.transaction() as tx:
            projects, self.capped_waiting = await queue.projects_in_turn(
                tx, now_ms, max_running, weights
            )
            if not projects:
                return None
            found = await tx.fetchone(queue.PICK, now_ms, projects[0])
            if found is None:
                return None
            row = await tx.fetchone(
                queue.CLAIM_SET + "WHERE id = $4 AND lease_expires < $5 "
                f"AND {queue.ACTIVE} RETURNING {_COLUMNS}",
                owner,
                now_ms + lease_ms,
                now,
                found["id"],
                now_ms,
            )
        return InteractionRecord.from_row(row) if row else None

    async def claim_many(
        self,
        owner: str,
        now_ms: int,
        lease_ms: int,
        now: str,
        slots: int,
        *,
        max_running: int = 0,
        weights: Mapping[str, float] | None = None,
    ) -> list[InteractionRecord]:
        """Up to ``slots`` runnable interactions, shared between projects as ``slots``
        one-at-a-time claims would (:func:`junction.store.queue.claim_plan`). PostgreSQL:
        one plan query and ONE claim statement (one commit) for all of them; afterwards
        ``claim_contended`` says whether other workers took some of the planned runs
        first. SQLite: one claim after another."""
        self.claim_contended = False
        if self.db.dialect != "postgresql":
            claimed: list[InteractionRecord] = []
            while len(claimed) < slots:
                one = await self.claim(
                    owner, now_ms, lease_ms, now, max_running=max_running, weights=weights
                )
                if one is None:
                    break
                claimed.append(one)
            return claimed
        plan, self.capped_waiting = await queue.claim_plan(
            self.db, now_ms, slots, max_running, weights
        )
        if not plan:
            return []
        args = (
            owner,
            now_ms + lease_ms,
            now,
            now_ms,
            [project_id for project_id, _ in plan],
            [count for _, count in plan],
            max_running,
        )
        sql = queue.CLAIM_MANY.format(columns=_COLUMNS)
        if max_running > 0:
            # Claims take turns: each statement then counts the running runs after the
            # previous claim's commit, so the cap holds exactly (not only as a fairness
            # bound) when workers claim at the same instant.
            async with self.db.transaction() as tx:
                await tx.execute(queue.CLAIM_TURN)
                rows = await tx.fetchall(sql, *args)
        else:
            rows = await self.db.fetchall(sql, *args)
        self.claim_contended = len(rows) < sum(count for _, count in plan)
        order = {project_id: i for i, (project_id, _) in enumerate(plan)}
        records = []
        for row in sorted(rows, key=lambda r: (order[r["project_id"]], r["id"])):
            record = InteractionRecord.from_row(row)
            record.max_event = int(row["max_event"])
            record.steps = jsonutil.loads(f"[{row['steps_json'] or ''}]")
            records.append(record)
        return records

    async def project_load(self, project_id: str, now_ms: int) -> queue.ProjectLoad:
        return await queue.project_load(self.db, project_id, now_ms)

    async def renew_leases(self, owner: str, until_ms: int) -> None:
        await self.db.execute(
            "UPDATE interactions SET lease_expires = $1 WHERE lease_owner = $2 "
            f"AND status = 'in_progress' AND {queue.ACTIVE}",  # as interactions_leases
            until_ms,
            owner,
        )

    async def watch(self, owner: str, ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """Of this process's runs ``ids``: which have a cancel request, and which this
        process no longer owns (taken over, finished or deleted elsewhere)."""
        if not ids:
            return [], []
        marks = ", ".join(f"${i + 2}" for i in range(len(ids)))
        rows = await self.db.fetchall(
            f"SELECT id, cancel_requested, lease_owner, status FROM interactions "
            f"WHERE id IN ({marks}) AND (cancel_requested = 1 OR lease_owner <> $1 "
            "OR status NOT IN ('queued', 'in_progress'))",
            owner,
            *ids,
        )
        cancel = [r["id"] for r in rows if r["cancel_requested"] and r["lease_owner"] == owner]
        lost = [r["id"] for r in rows if r["lease_owner"] != owner]
        return cancel, lost

    async def expire_leases_of(self, owners: Sequence[str]) -> int:
        """Make the runs of dead owners claimable now (start-up reconciliation)."""
        if not owners:
            return 0
        marks = ", ".join(f"${i + 1}" for i in range(len(owners)))
        return await self.db.execute(
            f"UPDATE interactions SET lease_expires = 0 WHERE status = 'in_progress' "
            f"AND {queue.ACTIVE} AND lease_owner IN ({marks})",
            *owners,
        )

    async def lease_owners(self) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT DISTINCT lease_owner FROM interactions WHERE status = 'in_progress' "
            f"AND {queue.ACTIVE} AND lease_owner IS NOT NULL"
        )
        return [r["lease_owner"] for r in rows]

    async def end_unowned(
        self,
        record: InteractionRecord,
        now_ms: int,
        events: Sequence[tuple[int, str]],
        outbox: tuple[OutboxMessage, int] | None = None,
    ) -> bool:
        """End an interaction nobody is running (queued, or its lease expired) with the
        state in ``record``; bumps the fence so a late owner cannot write. ``outbox``
        (message, max pending): the webhook message, written in the same transaction."""
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE interactions SET status = $1, usage = $2, errors = $3, updated = $4, "
                "fence = fence + 1 WHERE id = $5 AND status IN ('queued', 'in_progress') "
                "AND lease_expires < $6",
                record.status,
                _json(record.usage),
                _json(record.errors),
                record.updated,
                record.id,
                now_ms,
            )
            if changed != 1:
                return False
            await self.append_events(tx, record.id, events)
            if outbox is not None:
                await write_message(tx, outbox[0], now_ms, record.updated, outbox[1])
            return True

    async def request_cancel(self, project_id: str, interaction_id: str) -> bool:
        changed = await self.db.execute(
            "UPDATE interactions SET cancel_requested = 1 WHERE id = $1 AND project_id = $2 "
            "AND status IN ('queued', 'in_progress')",
            interaction_id,
            project_id,
        )
        return changed == 1

    async def delete(self, project_id: str, interaction_id: str) -> bool:
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "DELETE FROM interactions WHERE id = $1 AND project_id = $2",
                interaction_id,
                project_id,
            )
            if not changed:
                return False
            await tx.execute(
                "DELETE FROM steps WHERE interaction_id = $1 AND project_id = $2",
                interaction_id,
                project_id,
            )
            await tx.execute("DELETE FROM events WHERE interaction_id = $1", interaction_id)
            return True
