"""``Conn.after_commit``: callbacks run once the transaction has committed, never after a
rollback, and at once outside a transaction; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from junction.store.db import Database


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
