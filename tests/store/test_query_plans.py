"""Statements a process runs on a timer read only active runs, not the whole table.

The worker's claim (every poll), the lease renewal (every few seconds) and the start-up
lease queries once walked every interaction: on SQLite, on the event loop, a stall that
grew with the table (4.6 ms and 14 ms at 50,000 rows). Each is checked here by its plan,
on a table of finished rows with a few active ones, and by its result."""

from __future__ import annotations

import re

from junction import ids
from junction.store import queue
from junction.store.db import Database
from junction.store.interactions import InteractionStore

FINISHED = 3000
_COLUMNS = (
    "id, project_id, status, model, chain_id, first_seq, last_seq, config, lease_owner, "
    "lease_expires, fence, attempts, created, updated"
)


async def _fill(db: Database) -> None:
    now = ids.now_iso()

    def row(n: int, project: str, status: str, owner: str | None, lease: int) -> tuple:
        return (f"v1_{n:08d}", project, status, "offline/echo", f"ch_{n:08d}", 0, 0, "{}",
                owner, lease, 1, 1, now, now)  # fmt: skip

    rows = [row(n, "proj_a", "completed", "old-owner", 0) for n in range(FINISHED)]
    rows += [
        row(FINISHED, "proj_b", "in_progress", "me", 5_000),
        row(FINISHED + 1, "proj_b", "in_progress", "other", 5_000),
        row(FINISHED + 2, "proj_c", "queued", None, 0),
    ]
    marks = ", ".join(f"${i + 1}" for i in range(14))
    async with db.transaction() as tx:
        await tx.executemany(f"INSERT INTO interactions ({_COLUMNS}) VALUES ({marks})", rows)
    if db.dialect == "postgresql":
        await db.execute("ANALYZE interactions")


async def _plan(db: Database, sql: str, *args: object) -> str:
    if db.dialect == "sqlite":
        rows = await db.fetchall("EXPLAIN QUERY PLAN " + sql, *args)
        return "\n".join(str(r["detail"]) for r in rows)
    rows = await db.fetchall("EXPLAIN " + sql, *args)
    return "\n".join(str(next(iter(dict(r).values()))) for r in rows)


def _reads_only_active_runs(plan: str, dialect: str) -> bool:
    if dialect == "sqlite":
        touched = [line for line in plan.splitlines() if re.search(r"\binteractions\b", line)]
        return bool(touched) and all(
            "interactions_queue" in line or "interactions_leases" in line for line in touched
        )
    return "Seq Scan on interactions" not in plan and "interactions_by_status" not in plan


async def test_the_claim_walk_reads_only_the_queue(db: Database) -> None:
    await _fill(db)
    async with db.transaction() as tx:
        sql = queue._projects(tx)
        plan = await _plan(db, sql, 10_000, 1)
        order, capped = await queue.projects_in_turn(tx, 10_000, 0)
    assert _reads_only_active_runs(plan, db.dialect), plan
    # proj_b's leases run to 5,000 ms: at 10,000 they have lapsed, so it waits too
    assert sorted(order) == ["proj_b", "proj_c"] and not capped


async def test_lease_statements_read_only_active_runs(db: Database) -> None:
    await _fill(db)
    store = InteractionStore(db)
    active = queue.ACTIVE
    statements = [
        "UPDATE interactions SET lease_expires = $1 WHERE lease_owner = $2 "
        f"AND status = 'in_progress' AND {active}",
        f"SELECT DISTINCT lease_owner FROM interactions WHERE status = 'in_progress' "
        f"AND {active} AND lease_owner IS NOT NULL",
        f"UPDATE interactions SET lease_expires = 0 WHERE status = 'in_progress' "
        f"AND {active} AND lease_owner IN ($1)",
    ]
    args: list[tuple[object, ...]] = [(9_000, "me"), (), ("gone",)]
    for sql, values in zip(statements, args, strict=True):
        plan = await _plan(db, sql, *values)
        assert _reads_only_active_runs(plan, db.dialect), (sql, plan)

    # ...and they do what they did: only the owner's running runs, only live owners
    await store.renew_leases("me", 9_000)
    assert sorted(await store.lease_owners()) == ["me", "other"]
    assert await store.expire_leases_of(["other"]) == 1
    rows = await db.fetchall(
        "SELECT lease_owner, lease_expires FROM interactions WHERE status = 'in_progress' "
        "ORDER BY lease_owner"
    )
    assert [(r["lease_owner"], r["lease_expires"]) for r in rows] == [("me", 9_000), ("other", 0)]
    finished = await db.fetchone(
        "SELECT COUNT(*) AS n FROM interactions WHERE lease_owner = 'old-owner' "
        "AND lease_expires = 0"
    )
    assert finished is not None and finished["n"] == FINISHED
