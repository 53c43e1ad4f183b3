"""The database seam: a tiny async interface that SQLite and PostgreSQL both implement.

SQL is written once, with PostgreSQL-style ``$1`` placeholders; the SQLite backend
rewrites them to ``?1``. Rows are mappings (``row["column"]``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

Row = Mapping[str, Any]

#: cross-process notification channels (LISTEN/NOTIFY on PostgreSQL)
JOBS_CHANNEL = "junction_jobs"  # payload: ids of queued interactions
EVENTS_CHANNEL = "junction_events"  # payload: ids of interactions with new events
CANCEL_CHANNEL = "junction_cancel"  # payload: ids of interactions to cancel


class UniqueViolation(Exception):
    """A write broke a unique constraint (translated from the driver's error)."""


class DatabaseUnavailable(Exception):
    """The database cannot be opened; the message says in one line what to do."""


class DatabaseBusy(Exception):
    """A running server's database refused a new connection (its connection limit, a
    restart): the request is answered 503 and may be retried; nothing was written."""


class Conn(abc.ABC):
    """Statements run on one connection (inside a transaction, or autocommit)."""

    #: callbacks for after the current transaction commits (None: not in a transaction)
    _after: list[Callable[[], None]] | None = None
    #: statements run in this process (SQLite): a query costs microseconds, no round trip,
    #: so a cheap guard ahead of a costly statement pays
    in_process = False

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the transaction this connection is in has committed (never
        if it rolls back); outside a transaction, at once. It must be quick and not raise."""
        if self._after is None:
            callback()
        else:
            self._after.append(callback)

    @abc.abstractmethod
    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; return the number of rows it changed."""

    @abc.abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abc.abstractmethod
    async def fetchone(self, sql: str, *args: Any) -> Row | None: ...

    @abc.abstractmethod
    async def fetchall(self, sql: str, *args: Any) -> list[Row]: ...


class Database(Conn):
    """A connection pool (or one connection, for SQLite) plus transactions."""

    dialect: str
    url: str

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Conn]:
        """A transaction: committed when the block exits, rolled back on an exception."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def add_listener(self, channel: str, callback: Callable[[str], None]) -> None:
        """Subscribe to cross-process notifications (no-op where the backend has none)."""

    async def notify(self, channel: str, payload: str) -> None:
        """Send a cross-process notification (no-op where unsupported)."""

    def notify_soon(self, channel: str, payload: str) -> None:
        """Queue a notification to be sent shortly, batched (no-op where unsupported)."""


async def connect(url: str) -> Database:
    """Open the database named by ``url`` (``sqlite:///path`` or ``postgresql://…``)."""
    if url.startswith("sqlite:"):
        from junction.store.sqlite import SqliteDatabase

        return await SqliteDatabase.open(url)
    if url.startswith(("postgres://", "postgresql://")):
        from junction.store.postgres import PostgresDatabase

        return await PostgresDatabase.open(url)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path or postgresql://…")
