"""The order in which workers claim runs between projects (``store/queue.py``), on a
real SQLite and PostgreSQL database: fewest running runs per unit of weight first, then
the oldest waiting run; projects at their cap skipped; claims alternate between projects
with equal shares; a lapsed lease is waiting work, not a running run."""

from __future__ import annotations

import itertools

from junction import ids
from junction.store.db import Database
from junction.store.interactions import InteractionStore
from junction.store.projects import ProjectStore
from junction.store.queue import projects_in_turn
from junction.store.records import InteractionRecord

NOW = 10_000_000
_counter = itertools.count()


async def add_runs(
    db: Database, project_id: str, count: int, *, status: str = "queued", lease: int = 0
) -> list[str]:
    store = InteractionStore(db)
    made = []
    for _ in range(count):
        now = ids.now_iso()
        record = InteractionRecord(
            id=f"int_{next(_counter):08d}",  # ids in creation order
            project_id=project_id,
            status=status,
            model="offline/echo",
            agent=None,
            previous_interaction_id=None,
            chain_id=f"ch_{next(_counter):08d}",
            first_seq=0,
            last_seq=0,
            config={},
            created=now,
            updated=now,
            background=True,
            lease_owner="someone" if lease else None,
            lease_expires=lease,
        )
        async with db.transaction() as tx:
            await store.insert(tx, record)
        made.append(record.id)
    return made


async def project(db: Database, name: str) -> str:
    return await ProjectStore(db).ensure_project(name)


async def test_a_project_with_nothing_running_goes_before_a_busy_one(db: Database) -> None:
    flood, newcomer = await project(db, "flood"), await project(db, "newcomer")
    await add_runs(db, flood, 3, status="in_progress", lease=NOW + 60_000)
    await add_runs(db, flood, 50)
    (first,) = await add_runs(db, newcomer, 1)  # created after the whole flood
    order, capped = await projects_in_turn(db, NOW, 0)
    assert order == [newcomer, flood]
    assert not capped
    claimed = await InteractionStore(db).claim("worker", NOW, 15_000, ids.now_iso())
    assert claimed is not None and claimed.id == first


async def test_projects_at_their_cap_are_skipped(db: Database) -> None:
    busy, idle = await project(db, "busy"), await project(db, "idle")
    await add_runs(db, busy, 2, status="in_progress", lease=NOW + 60_000)
    await add_runs(db, busy, 5)
    assert await projects_in_turn(db, NOW, 2) == ([], True)
    await add_runs(db, idle, 1)
    assert await projects_in_turn(db, NOW, 2) == ([idle], True)
    assert (await projects_in_turn(db, NOW, 3))[0] == [idle, busy]


async def test_claims_alternate_between_projects_with_equal_shares(db: Database) -> None:
    first, second = await project(db, "first"), await project(db, "second")
    await add_runs(db, first, 4)
    await add_runs(db, second, 4)
    store = InteractionStore(db)
    owners = []
    for _ in range(6):
        claimed = await store.claim("worker", NOW, 15_000, ids.now_iso())
        assert claimed is not None
        owners.append(claimed.project_id)
    assert owners == [first, second] * 3


async def test_weights_give_projects_larger_shares(db: Database) -> None:
    heavy, light = await project(db, "heavy"), await project(db, "light")
    await add_runs(db, heavy, 8)
    await add_runs(db, light, 8)
    store = InteractionStore(db)
    owners = []
    for _ in range(8):
        claimed = await store.claim("worker", NOW, 15_000, ids.now_iso(), weights={"heavy": 3.0})
        assert claimed is not None
        owners.append(claimed.project_id)
    assert owners.count(heavy) == 6 and owners.count(light) == 2


async def test_a_lapsed_lease_is_waiting_work_not_a_running_run(db: Database) -> None:
    crashed, other = await project(db, "crashed"), await project(db, "other")
    (orphan,) = await add_runs(db, crashed, 1, status="in_progress", lease=NOW - 1)
    await add_runs(db, other, 1, status="in_progress", lease=NOW + 60_000)
    await add_runs(db, other, 1)
    order, _ = await projects_in_turn(db, NOW, 0)
    assert order == [crashed, other]  # 0 running (its lease lapsed) before 1 running
    claimed = await InteractionStore(db).claim("taker", NOW, 15_000, ids.now_iso())
    assert claimed is not None and claimed.id == orphan and claimed.fence == 1
