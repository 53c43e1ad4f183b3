"""Group commit on PostgreSQL (``store/group_commit.py``): the progress writes of many
runs, and their creates, share one statement (one commit) per batch; each write returns
only once committed; one bad write or a lost compare-and-set never fails the others; a
cancelled caller knows whether its write landed; a process that dies between batches
leaves the written runs written and the others untouched and claimable."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from junction import ids
from junction.store import fresh_insert, progress_batch, queue
from junction.store.db import Database, UniqueViolation, connect
from junction.store.fresh_insert import insert_fresh
from junction.store.interactions import InteractionStore
from junction.store.migrate import migrate
from junction.store.progress_batch import ProgressWrite, write_progress
from junction.store.records import InteractionRecord
from junction.store.usage import UsageDelta, add_usage, merge
from tests.api.quota_servers import database
from tests.store.test_fair_queue import add_runs, project

NOW = 10_000_000


@pytest.fixture
def pg_only_url(pg_url: str, tmp_path: Path) -> Iterator[str]:
    with database("postgres", tmp_path) as url:
        yield url


@pytest.fixture
async def pg(pg_only_url: str) -> AsyncIterator[Database]:
    db = await connect(pg_only_url)
    await migrate(db)
    yield db
    await db.close()


def statements(db: Database) -> int:
    return progress_batch._committers[db].statements


async def running(db: Database, name: str, count: int) -> list[InteractionRecord]:
    """``count`` runs of a new project, claimed (in progress, fence 1) by "worker"."""
    await add_runs(db, await project(db, name), count)
    store = InteractionStore(db)
    claimed = await store.claim_many("worker", NOW, 60_000, ids.now_iso(), count)
    assert len(claimed) == count
    return claimed


def ending(record: InteractionRecord, text: str) -> ProgressWrite:
    """The run's final write: completed, one step, two events."""
    snap = dataclasses.replace(record, status="completed", updated=ids.now_iso())
    snap.last_seq = record.last_seq + 1
    step = {"type": "model_output", "content": [{"type": "text", "text": text}]}
    return ProgressWrite(
        snap, [(snap.last_seq, step)], [(1, '{"a":1}'), (2, '{"b":2}')], "in_progress"
    )


async def state_of(db: Database, interaction_id: str) -> dict[str, Any]:
    row = await db.fetchone(
        "SELECT status, (SELECT COUNT(*) FROM steps s WHERE s.interaction_id = i.id) AS steps, "
        "(SELECT COUNT(*) FROM events e WHERE e.interaction_id = i.id) AS events "
        "FROM interactions i WHERE id = $1",
        interaction_id,
    )
    assert row is not None
    return {"status": row["status"], "steps": int(row["steps"]), "events": int(row["events"])}


async def test_concurrent_run_writes_share_statements_and_each_returns_committed(
    pg: Database, pg_only_url: str
) -> None:
    runs = await running(pg, "many", 60)
    observer = await connect(pg_only_url)  # another connection: sees committed rows only

    async def end(record: InteractionRecord) -> None:
        outcome = await write_progress(pg, ending(record, record.id))
        assert outcome.written
        assert await state_of(observer, record.id) == {
            "status": "completed",
            "steps": 1,
            "events": 2,
        }

    try:
        # in three waves, each arriving while the previous one is being written
        waves = []
        for i in range(3):
            waves.append(asyncio.gather(*(end(r) for r in runs[i::3])))
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        await asyncio.gather(*waves)
    finally:
        await observer.close()
    assert 1 < statements(pg) <= 6  # 60 writes: a batch or two per wave


async def test_a_bad_write_fails_alone_and_a_lost_compare_and_set_is_no_error(
    pg: Database,
) -> None:
    good, bad, stale = (await running(pg, "isolation", 5))[:3], *(await running(pg, "x", 2))
    poisoned = ending(bad, "bad")
    poisoned.events = [(1, '{"text": "nul \u0000 byte"}')]  # PostgreSQL text refuses NUL
    late = ending(stale, "late")
    late.record.fence = stale.fence + 7  # taken over meanwhile: its fence moved on
    results = await asyncio.gather(
        *(write_progress(pg, w) for w in [*(ending(r, "ok") for r in good), poisoned, late]),
        return_exceptions=True,
    )
    assert [getattr(r, "written", None) for r in results[:3]] == [True] * 3
    assert isinstance(results[3], Exception)
    assert getattr(results[4], "written", None) is False
    for record in good:
        assert await state_of(pg, record.id) == {"status": "completed", "steps": 1, "events": 2}
    assert await state_of(pg, bad.id) == {"status": "in_progress", "steps": 0, "events": 0}
    assert await state_of(pg, stale.id) == {"status": "in_progress", "steps": 0, "events": 0}
    # one batch, then each of its five writes alone
    assert statements(pg) == 1 + 5


async def test_usage_rides_in_the_batch_summed_per_project_and_day(pg: Database) -> None:
    runs = await running(pg, "usage", 4)
    writes = []
    for record in runs:
        write = ending(record, "u")
        write.usage = UsageDelta(record.project_id, "2026-11-30", "key", "m", 1, 10, 5, 0, 0, 0.5)
        writes.append(write)
    await asyncio.gather(*(write_progress(pg, w) for w in writes))
    assert statements(pg) == 1
    day = await pg.fetchone(
        "SELECT tokens, cost FROM project_usage WHERE project_id = $1", runs[0].project_id
    )
    daily = await pg.fetchone(
        "SELECT interactions, input_tokens, output_tokens FROM usage_daily WHERE project_id = $1",
        runs[0].project_id,
    )
    assert day is not None and (day["tokens"], day["cost"]) == (60, 2.0)
    assert daily is not None and tuple(daily.values()) == (4, 40, 20)


async def test_a_cancelled_caller_knows_whether_its_write_landed(pg: Database) -> None:
    first, waiting = await running(pg, "cancel", 2)
    in_flight = asyncio.ensure_future(write_progress(pg, ending(first, "in flight")))
    await asyncio.sleep(0)  # its batch is being written now
    queued = asyncio.ensure_future(write_progress(pg, ending(waiting, "queued")))
    await asyncio.sleep(0)  # waits for the next batch
    in_flight.cancel()
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    # the write under way landed: its outcome is kept, the cancel delivered after it
    with pytest.raises(asyncio.CancelledError):
        await in_flight
    assert (await state_of(pg, first.id))["status"] == "completed"
    assert await state_of(pg, waiting.id) == {"status": "in_progress", "steps": 0, "events": 0}


class _DiesOnSecondBatch:
    """A database whose process dies before it sends its second batch statement."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.dialect = db.dialect
        self.calls = 0
        self.dead = asyncio.Event()

    async def fetchone(self, sql: str, *args: Any) -> Any:
        self.calls += 1
        if self.calls == 2:
            self.dead.set()
            await asyncio.Event().wait()  # the process is gone: never sent
        return await self._db.fetchone(sql, *args)


async def test_a_process_dying_between_batches_leaves_the_rest_to_be_claimed(
    pg: Database,
) -> None:
    first, *later = await running(pg, "crash", 4)
    dying: Any = _DiesOnSecondBatch(pg)
    landed = asyncio.ensure_future(write_progress(dying, ending(first, "landed")))
    await asyncio.sleep(0)
    lost = [asyncio.ensure_future(write_progress(dying, ending(r, "lost"))) for r in later]
    await dying.dead.wait()
    assert (await landed).written  # the first batch committed before the crash
    progress_batch._committers[dying]._task.cancel()  # type: ignore[union-attr]
    for write in lost:
        with pytest.raises(asyncio.CancelledError):
            await write  # the process stopped: none of them returned as written
    assert (await state_of(pg, first.id))["status"] == "completed"
    for record in later:  # nothing of the second batch: the runs are as they were
        assert await state_of(pg, record.id) == {"status": "in_progress", "steps": 0, "events": 0}
    # their lease lapses; another worker claims them, and the dead one can no longer write
    store = InteractionStore(pg)
    taken = await store.claim_many("heir", NOW + 120_000, 60_000, ids.now_iso(), 10)
    assert sorted(r.id for r in taken) == sorted(r.id for r in later)
    assert all(r.fence == 2 and r.attempts == 2 for r in taken)
    assert not (await write_progress(pg, ending(later[0], "too late"))).written


async def test_concurrent_creates_share_a_statement_and_a_duplicate_key_fails_alone(
    pg: Database,
) -> None:
    project_id = await project(pg, "creates")

    def fresh(key: str | None) -> InteractionRecord:
        now = ids.now_iso()
        return InteractionRecord(
            id=ids.interaction_id(), project_id=project_id, status="queued",
            model="offline/echo", agent=None, previous_interaction_id=None,
            chain_id=ids.sortable_id("ch_"), first_seq=0, last_seq=0, config={},
            created=now, updated=now, background=True, idempotency_key=key,
        )  # fmt: skip

    records = [fresh(None) for _ in range(20)] + [fresh("same"), fresh("same")]
    step = {"type": "user_input", "content": [{"type": "text", "text": "hi"}]}
    results = await asyncio.gather(
        *(insert_fresh(pg, r, [(0, step)], [(1, "{}")]) for r in records),
        return_exceptions=True,
    )
    failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == [21] and isinstance(results[21], UniqueViolation)
    for record in records[:21]:
        assert await state_of(pg, record.id) == {"status": "queued", "steps": 1, "events": 1}
    # one batch, then its 22 creates alone
    assert fresh_insert._committers[pg].statements == 1 + 22


async def test_a_batched_claim_shares_slots_as_single_claims_would(pg: Database) -> None:
    first, second = await project(pg, "first"), await project(pg, "second")
    heavy, light = await project(pg, "heavy"), await project(pg, "light")
    capped = await project(pg, "capped")
    await add_runs(pg, first, 4)
    await add_runs(pg, second, 4)
    await add_runs(pg, heavy, 8)
    await add_runs(pg, light, 8)
    await add_runs(pg, capped, 2, status="in_progress", lease=NOW + 60_000)
    await add_runs(pg, capped, 5)
    store = InteractionStore(pg)
    claimed = await store.claim_many(
        "worker", NOW, 15_000, ids.now_iso(), 14, max_running=3, weights={"heavy": 3.0}
    )
    per_project = {
        p: sum(r.project_id == p for r in claimed) for p in {r.project_id for r in claimed}
    }
    # each slot to the fewest running per unit of weight: heavy (weight 3) takes three
    # early, then first, second and light fill up; everyone stops at the cap of 3
    # running (capped had 2 already), so 13 of the 14 slots are used
    assert per_project == {first: 3, second: 3, light: 3, heavy: 3, capped: 1}
    assert store.capped_waiting and not store.claim_contended
    assert all(r.lease_owner == "worker" and r.fence == 1 for r in claimed)


async def test_the_claim_statement_counts_the_running_runs_again(pg: Database) -> None:
    """Between a worker's plan and its claim, another worker took runs of the project:
    the claim statement does not take it past its cap."""
    busy = await project(pg, "raced")
    await add_runs(pg, busy, 6)
    plan, _ = await queue.claim_plan(pg, NOW, 5, 3)
    assert plan == [(busy, 3)]
    other = await InteractionStore(pg).claim_many("other", NOW, 60_000, ids.now_iso(), 2)
    assert len(other) == 2  # taken meanwhile: one room left under the cap of 3
    rows = await pg.fetchall(
        queue.CLAIM_MANY.format(columns="id"),
        "late", NOW + 60_000, ids.now_iso(), NOW, [busy], [3], 3,
    )  # fmt: skip
    assert len(rows) == 1


async def test_workers_claiming_at_once_never_take_a_project_past_its_cap(
    pg: Database,
) -> None:
    """Every worker plans from the same counts and claims at the same instant: the cap of
    running runs holds exactly (the claims take turns), not only as a fairness bound."""
    stores = [InteractionStore(pg) for _ in range(8)]
    for round_ in range(5):
        busy = await project(pg, f"flooded{round_}")
        await add_runs(pg, busy, 40)
        claimed = await asyncio.gather(
            *[
                store.claim_many(f"w{i}", NOW, 60_000, ids.now_iso(), 3, max_running=3)
                for i, store in enumerate(stores)
            ]
        )
        assert sum(len(c) for c in claimed) == 3, [len(c) for c in claimed]
        await pg.execute("UPDATE interactions SET status = 'completed' WHERE project_id = $1", busy)


async def test_batched_usage_and_a_usage_transaction_at_once_never_deadlock(
    pg: Database,
) -> None:
    """A batch carrying runs' usage and a usage transaction of the same process or
    another (runs that record it on their own) lock the rollup rows in the same order:
    project_usage, then usage_daily, each in key order."""
    name = await project(pg, "rollups")
    day = "2026-11-30"

    def delta(model: str) -> UsageDelta:
        return UsageDelta(name, day, "", model, 1, 10, 5, 0, 0, 0.01)

    async def alone() -> None:
        async with pg.transaction() as tx:
            await add_usage(tx, merge([delta("m1"), delta("m2")]))

    for _ in range(40):
        await asyncio.gather(
            *[
                progress_batch.write_batch(
                    pg, [], [delta("m1"), delta("m2")], now_ms=NOW, now=ids.now_iso(),
                    max_pending=10,
                )
                for _ in range(3)
            ],
            *[alone() for _ in range(3)],
        )  # fmt: skip
    row = await pg.fetchone(
        "SELECT SUM(interactions) AS n FROM usage_daily WHERE project_id = $1", name
    )
    assert row is not None and int(row["n"]) == 40 * 6 * 2
