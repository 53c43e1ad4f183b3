"""Embedded SQLite backend.

Statements run directly on the event-loop thread: in WAL mode with
``synchronous=NORMAL`` a statement or a commit is a few microseconds of in-memory work,
far cheaper than a hop to a worker thread. What can take milliseconds (the WAL
checkpoint's copying and fsync) is moved off the loop: automatic checkpoints are
disabled and a background task checkpoints on its own connection in a thread; only the
short last pass that lets the WAL restart runs on the loop (see ``_checkpoint_loop``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from junction.store.db import Conn, Database, Row, UniqueViolation

CHECKPOINT_INTERVAL = 0.5  # seconds
#: WAL frames (4 KiB pages) past which a checkpoint pauses this process's writers to
#: finish; below it passive checkpoints run alone (a pause of every writer, even a short
#: one, every half second was a visible share of the latency tail under load)
CHECKPOINT_PAUSE_FRAMES = 8192
#: unpaused passes that copy what arrived during the one before, until at most
#: ``CATCH_UP_FRAMES`` did: the paused pass then copies about that many
CATCH_UP_PASSES = 4
CATCH_UP_FRAMES = 256
#: bytes the WAL file is cut back to when it restarts (a burst grew it past that)
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
_PLACEHOLDER = re.compile(r"\$(\d+)")


@lru_cache(maxsize=1024)
def _sql(text: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", text)


def _path_from_url(url: str) -> str:
    path = url.split(":", 1)[1]
    path = path[3:] if path.startswith("///") else path.lstrip("/")
    if not path or path == ":memory:":
        raise ValueError("Junction needs a SQLite file (sqlite:///path/to/junction.db)")
    return path


class _SqliteConn(Conn):
    in_process = True

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            return self.raw.execute(_sql(sql), args).rowcount
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise UniqueViolation(str(exc)) from exc
            raise

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self.raw.executemany(_sql(sql), rows)
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise UniqueViolation(str(exc)) from exc
            raise

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = self.raw.execute(_sql(sql), args).fetchone()
        return row

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        return list(self.raw.execute(_sql(sql), args).fetchall())


class SqliteDatabase(Database):
    dialect = "sqlite"
    in_process = True

    def __init__(self, url: str, path: str, raw: sqlite3.Connection) -> None:
        self.url = url
        self.path = path
        self._conn = _SqliteConn(raw)
        self._lock = asyncio.Lock()
        self._checkpointer: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str) -> SqliteDatabase:
        """Open (creating) the database; the file and its WAL and SHM are mode 0600."""
        path = _path_from_url(url)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        _private_files(path)
        raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        raw.row_factory = sqlite3.Row
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=5000",
            "foreign_keys=ON",
            "wal_autocheckpoint=0",
            "cache_size=-65536",
            "temp_store=MEMORY",
            f"journal_size_limit={JOURNAL_SIZE_LIMIT}",
        ):
            raw.execute(f"PRAGMA {pragma}")
        db = cls(url, path, raw)
        db._checkpointer = asyncio.get_running_loop().create_task(db._checkpoint_loop())
        return db

    async def _checkpoint_loop(self) -> None:
        """Keep the WAL bounded under sustained writes. A PASSIVE checkpoint in a thread
        copies most frames without blocking anyone; it can never finish while writes keep
        coming, so once the WAL has grown past ``CHECKPOINT_PAUSE_FRAMES`` one more runs
        with this process's writers paused, after which the next write restarts the WAL
        from its beginning.

        That paused one is kept short. Unpaused passes first copy what arrived during the
        pass before (up to ``CATCH_UP_PASSES``, until at most ``CATCH_UP_FRAMES`` did), and
        the paused one runs on this thread, on the store's own connection, holding the
        write lock without awaiting anything, so no writer can queue behind it. Run in a
        thread, it held the lock across the hop there and back and a wait for the GIL
        while the loop was busy (5-16 ms under load; 2-3 ms now), and the writers queued
        behind it kept taking the lock through its waiter queue, one loop turn each, long
        after the pause (``bench/checkpoint_pause.py``). The checkpoint connection stays
        open between passes.

        A passive checkpoint counts only the frames there were when it began, so it says
        it copied them all even while new ones arrived: it must not decide the paused one
        (that made the WAL grow without end under load, every commit extending the file)."""
        conn = sqlite3.connect(self.path, timeout=5, check_same_thread=False)
        loop = asyncio.get_running_loop()
        running: asyncio.Future[int] | None = None

        def passive() -> int:
            """Frames in the WAL (one pass at a time: the loop below awaits each)."""
            return int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])

        async def in_thread() -> int:
            nonlocal running
            running = loop.run_in_executor(None, passive)
            # shielded: cancelling this task cannot stop the thread, and the connection
            # must not be closed under it (below)
            return await asyncio.shield(running)

        try:
            while True:
                await asyncio.sleep(CHECKPOINT_INTERVAL)
                with contextlib.suppress(sqlite3.Error):
                    frames = await in_thread()
                    if frames <= CHECKPOINT_PAUSE_FRAMES:
                        continue
                    for _ in range(CATCH_UP_PASSES):
                        now = await in_thread()
                        arrived, frames = now - frames, now
                        if arrived <= CATCH_UP_FRAMES:
                            break
                    async with self._lock:
                        self._conn.raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            if running is not None:
                await asyncio.wait([running])
            conn.close()

    # Single statements outside a transaction: autocommit, serialized with transactions.
    async def execute(self, sql: str, *args: Any) -> int:
        async with self._lock:
            return await self._conn.execute(sql, *args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self._lock:
            await self._conn.executemany(sql, rows)

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        return await self._conn.fetchone(sql, *args)

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        return await self._conn.fetchall(sql, *args)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        after: list[Callable[[], None]] = []
        async with self._lock:
            raw = self._conn.raw
            raw.execute("BEGIN IMMEDIATE")
            self._conn._after = after
            try:
                yield self._conn
            except BaseException:
                raw.execute("ROLLBACK")
                raise
            else:
                raw.execute("COMMIT")
            finally:
                self._conn._after = None
        for callback in after:
            callback()

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
        self._conn.raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.raw.close()


def _private_files(path: str) -> None:
    """Create the database file mode 0600 before SQLite does (SQLite gives its WAL and
    SHM files the database file's mode), and narrow an existing one and its companions."""
    if path == ":memory:" or path.startswith("file:"):
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path + suffix, 0o600)
