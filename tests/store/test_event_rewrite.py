"""A persist interrupted after its commit (a cancel landing mid-flush) leaves its events
pending, and the next persist writes them again: that must be a no-op, never a
duplicate-key error (which used to fail the run, and answered the cancel with a 500).
Both write paths, on SQLite and PostgreSQL."""

from __future__ import annotations

from junction.store.db import Database
from junction.store.interactions import InteractionStore
from tests.store.test_fair_queue import add_runs, project


async def events_of(db: Database, interaction_id: str) -> list[tuple[int, str]]:
    rows = await db.fetchall(
        "SELECT seq, data FROM events WHERE interaction_id = $1 ORDER BY seq", interaction_id
    )
    return [(int(r["seq"]), str(r["data"])) for r in rows]


async def test_the_same_events_written_twice_are_kept_once(db: Database) -> None:
    store = InteractionStore(db)
    (interaction_id,) = await add_runs(db, await project(db, "rewrite"), 1, status="in_progress")
    events = [(1, '{"event_type":"a"}'), (2, '{"event_type":"b"}')]
    async with db.transaction() as tx:
        await store.append_events(tx, interaction_id, events)
    async with db.transaction() as tx:  # the retry after an interrupted persist
        await store.append_events(tx, interaction_id, [*events, (3, '{"event_type":"c"}')])
    assert await events_of(db, interaction_id) == [*events, (3, '{"event_type":"c"}')]


async def test_the_one_statement_progress_write_is_idempotent_too(db: Database) -> None:
    if db.dialect != "postgresql":
        return  # the one-statement path exists on PostgreSQL only; SQLite is covered above
    store = InteractionStore(db)
    project_id = await project(db, "rewrite-pg")
    (interaction_id,) = await add_runs(db, project_id, 1, status="in_progress")
    record = await store.get(project_id, interaction_id)
    assert record is not None
    events = [(1, '{"event_type":"a"}')]
    assert await store.write_progress(record, [], events, expect="in_progress") == 0
    again = [*events, (2, '{"event_type":"b"}')]
    assert await store.write_progress(record, [], again, expect="in_progress") == 0
    assert await events_of(db, interaction_id) == again
