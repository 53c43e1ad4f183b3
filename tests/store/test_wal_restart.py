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
