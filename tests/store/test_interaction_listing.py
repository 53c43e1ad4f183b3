"""The filtered interaction listing on the real databases: every filter and the time range
return exactly the matching rows of the caller's project, newest first, across pages, and
each page is an index range scan (no full scan, no sort), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from junction import ids
from junction.store.db import Database, connect
from junction.store.interactions import InteractionStore, ListFilters
from junction.store.migrate import migrate
from junction.store.records import InteractionRecord

BASE_MS = 1_790_000_000_000  # 2026-09-21
STATUSES = ["completed", "failed", "requires_action", "cancelled"]
MODELS = ["offline/a", "offline/b", "offline/c"]
AGENTS = [None, "researcher", "coder"]


def make_id(ms: int) -> str:
    raw = ms.to_bytes(6, "big") + secrets.token_bytes(10)
    return "v1_" + base64.b32hexencode(raw).decode().rstrip("=").lower()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'listing.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = await connect(db_url)
    await migrate(database)
    yield database
    await database.close()


async def seed(db: Database, project_id: str, count: int) -> list[InteractionRecord]:
    store = InteractionStore(db)
    records = []
    async with db.transaction() as tx:
        for n in range(count):
            ms = BASE_MS + n * 60_000  # one a minute
            agent = AGENTS[n % 3]
            record = InteractionRecord(
                id=make_id(ms),
                project_id=project_id,
                status=STATUSES[n % 4],
                model=None if agent else MODELS[n % 5 % 3],
                agent=agent,
                previous_interaction_id=None,
                chain_id=f"ch_{secrets.token_hex(6)}",
                first_seq=1,
                last_seq=1,
                config={"input": f"n={n}"},
                created=f"{ms}",
                updated=f"{ms}",
            )
            await store.insert(tx, record)
            records.append(record)
    return records


async def walk(store: InteractionStore, project_id: str, filters: ListFilters) -> list[str]:
    """Every page of a listing, three at a time, following the keyset cursor."""
    seen: list[str] = []
    cursor: str | None = None
    while True:
        rows = await store.list_page(project_id, 4, cursor, filters)
        seen.extend(r.id for r in rows[:3])
        if len(rows) <= 3:
            return seen
        cursor = rows[2].id


async def test_filters_and_time_range_walk_exactly_the_matching_rows(db: Database) -> None:
    project = "prj_" + secrets.token_hex(4)
    other = "prj_" + secrets.token_hex(4)
    records = await seed(db, project, 60)
    await seed(db, other, 30)  # another project's rows never show
    store = InteractionStore(db)
    low, high = (
        ids.id_floor("v1_", BASE_MS + 10 * 60_000),
        ids.id_floor("v1_", BASE_MS + 40 * 60_000),
    )
    cases = [
        ListFilters(),
        ListFilters(status="failed"),
        ListFilters(model="offline/b"),
        ListFilters(agent="researcher"),
        ListFilters(status="completed", agent="coder"),
        ListFilters(id_low=low),
        ListFilters(id_high=high),
        ListFilters(status="requires_action", id_low=low, id_high=high),
        ListFilters(model="offline/none"),
    ]
    for filters in cases:
        expected = [
            r.id
            for r in sorted(records, key=lambda r: r.id, reverse=True)
            if (filters.status is None or r.status == filters.status)
            and (filters.model is None or r.model == filters.model)
            and (filters.agent is None or r.agent == filters.agent)
            and (filters.id_low is None or r.id >= filters.id_low)
            and (filters.id_high is None or r.id < filters.id_high)
        ]
        assert await walk(store, project, filters) == expected, filters
    # the time range is exactly the creation minutes 10 … 39
    in_range = await walk(store, project, ListFilters(id_low=low, id_high=high))
    assert sorted(in_range) == sorted(r.id for r in records[10:40])


async def plan(db: Database, sql: str, *args: object) -> str:
    if db.dialect == "sqlite":
        rows = await db.fetchall("EXPLAIN QUERY PLAN " + sql, *args)
        return "\n".join(str(r["detail"]) for r in rows)
    await db.execute("ANALYZE interactions")
    async with db.transaction() as tx:
        # on a small table the planner may prefer a scan; forbid it to see the index path
        await tx.execute("SET LOCAL enable_seqscan = off")
        rows = await tx.fetchall("EXPLAIN " + sql, *args)
    return "\n".join(str(next(iter(r.values()))) for r in rows)


@pytest.mark.parametrize(
    ("column", "index"),
    [
        ("status", "interactions_by_status"),
        ("model", "interactions_by_model"),
        ("agent", "interactions_by_agent"),
    ],
)
async def test_each_filter_is_an_ordered_index_scan(db: Database, column: str, index: str) -> None:
    project = "prj_" + secrets.token_hex(4)
    await seed(db, project, 40)
    sql = (
        f"SELECT id FROM interactions WHERE project_id = $1 AND {column} = $2 AND id < $3 "
        "ORDER BY id DESC LIMIT $4"
    )
    text = await plan(db, sql, project, "x", "v1_zzzz", 26)
    assert index in text, text
    if db.dialect == "sqlite":
        assert "TEMP B-TREE" not in text, text  # the index gives the order: no sort
    else:
        assert "Seq Scan" not in text and "Sort" not in text, text


async def test_time_range_uses_the_project_index(db: Database) -> None:
    project = "prj_" + secrets.token_hex(4)
    await seed(db, project, 40)
    sql = (
        "SELECT id FROM interactions WHERE project_id = $1 AND id >= $2 AND id < $3 "
        "ORDER BY id DESC LIMIT $4"
    )
    low = ids.id_floor("v1_", BASE_MS + 10 * 60_000)
    high = ids.id_floor("v1_", BASE_MS + 20 * 60_000)
    text = await plan(db, sql, project, low, high, 26)
    assert "interactions_by_project" in text or "interactions_pkey" in text, text
    if db.dialect == "sqlite":
        assert "TEMP B-TREE" not in text, text
    else:
        # a bounded range of the index (on a tiny table PostgreSQL may then sort the few rows)
        assert "Seq Scan" not in text and "id >= " in text, text
