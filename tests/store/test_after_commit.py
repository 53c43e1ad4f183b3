"""``Conn.after_commit``: callbacks run once the transaction has committed, never after a
rollback, and at once outside a transaction; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from junction.store.db import Database, connect
from junction.store.migrate import migrate
from tests.api.quota_servers import database


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        request.getfixturevalue("pg_url")
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database_ = await connect(db_url)
    await migrate(database_)
    yield database_
    await database_.close()


async def test_callbacks_run_after_the_commit_and_see_its_rows(db: Database) -> None:
    seen: list[object] = []

    async def count() -> int:
        row = await db.fetchone("SELECT COUNT(*) AS n FROM duties")
        assert row is not None
        return int(row["n"])

    async with db.transaction() as tx:
        await tx.execute("INSERT INTO duties (name, holder, until_ms) VALUES ('a', 'me', 1)")
        tx.after_commit(lambda: seen.append("first"))
        tx.after_commit(lambda: seen.append("second"))
        assert seen == []  # not before the commit
    assert seen == ["first", "second"]
    assert await count() == 1


async def test_a_rollback_drops_the_callbacks(db: Database) -> None:
    seen: list[str] = []
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO duties (name, holder, until_ms) VALUES ('b', 'me', 1)")
            tx.after_commit(lambda: seen.append("never"))
            raise RuntimeError("roll back")
    async with db.transaction() as tx:  # the next transaction starts with none queued
        tx.after_commit(lambda: seen.append("next"))
    assert seen == ["next"]
    db.after_commit(lambda: seen.append("now"))  # outside a transaction: at once
    assert seen == ["next", "now"]
