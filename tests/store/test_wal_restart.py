"""Under sustained writes the SQLite WAL restarts from its beginning again and again, so
it stays small: commits overwrite the file's first frames instead of extending it, and
the disk it takes is bounded. (A passive checkpoint reports only the frames there were
when it began; taken as "all copied", that kept the pause that lets the WAL restart from
ever running under load, and the WAL grew without end.)"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from junction.store import sqlite as sqlite_store
from junction.store.sqlite import SqliteDatabase


def _wal_restarts(path: Path) -> int:
    """The WAL header's checkpoint sequence number: one more at each restart."""
    with path.open("rb") as wal:
        header = wal.read(16)
    return int.from_bytes(header[12:16], "big") if len(header) == 16 else 0


async def test_the_wal_restarts_and_stays_small_under_sustained_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_INTERVAL", 0.05)
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_PAUSE_FRAMES", 200)
    db = await SqliteDatabase.open(f"sqlite:///{tmp_path / 'w.db'}")
    wal = tmp_path / "w.db-wal"
    try:
        await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data TEXT)")
        first = _wal_restarts(wal)
        largest = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        n = 0
        while loop.time() < deadline:
            async with db.transaction() as tx:  # two pages a commit, one of them new
                await tx.execute("INSERT INTO t (id, data) VALUES ($1, $2)", n, "x" * 3000)
            n += 1
            if n % 50 == 0:
                largest = max(largest, os.path.getsize(wal))
                await asyncio.sleep(0)  # the checkpointer's turn (a server's other work)
        restarts = _wal_restarts(wal) - first
        frames_written = 2 * n
    finally:
        await db.close()
    assert restarts >= 8, f"the WAL restarted {restarts} times in {n} commits"
    # bounded by the pause threshold plus what a checkpoint interval of writes adds
    # (about a tenth of all written here); an ever-growing WAL holds nearly all of it
    assert largest < frames_written * 4096 / 4, (largest, frames_written)


async def test_no_writer_waits_behind_the_checkpointer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pause that lets the WAL restart holds the write lock without awaiting anything,
    so a writer never finds the lock taken (it used to be held across a thread hop, and
    every writer arriving meanwhile queued behind it)."""
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_INTERVAL", 0.02)
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_PAUSE_FRAMES", 100)
    db = await SqliteDatabase.open(f"sqlite:///{tmp_path / 'w.db'}")
    wal = tmp_path / "w.db-wal"
    found_taken = commits = 0
    try:
        await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data TEXT)")
        first = _wal_restarts(wal)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.5

        async def writer() -> None:
            nonlocal found_taken, commits
            while loop.time() < deadline:
                found_taken += db._lock.locked()
                async with db.transaction() as tx:
                    await tx.execute("INSERT INTO t (data) VALUES ($1)", "x" * 3000)
                commits += 1
                await asyncio.sleep(0)

        await asyncio.gather(*(writer() for _ in range(8)))
        restarts = _wal_restarts(wal) - first
    finally:
        await db.close()
    assert restarts >= 5, f"the WAL restarted {restarts} times in {commits} commits"
    assert found_taken == 0, f"{found_taken} of {commits} writers found the lock taken"


async def test_closing_waits_for_a_checkpoint_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint connection is closed only once its pass in a thread has finished
    (closed under it, the process crashed)."""
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_INTERVAL", 0)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    db = await SqliteDatabase.open(url)
    await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data TEXT)")
    await db.close()
    for round_ in range(100):
        db = await SqliteDatabase.open(url)
        for n in range(40):
            await db.execute("INSERT INTO t (data) VALUES ($1)", f"{round_}-{n}" * 500)
        await asyncio.sleep(0.002 * (round_ % 5))
        await db.close()
    db = await SqliteDatabase.open(url)
    try:
        row = await db.fetchone("SELECT count(*) AS n FROM t")
    finally:
        await db.close()
    assert row is not None and row["n"] == 100 * 40
