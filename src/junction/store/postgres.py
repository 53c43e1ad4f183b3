"""PostgreSQL backend (asyncpg): a connection pool, LISTEN/NOTIFY for wake-ups."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any

import asyncpg

from junction.store.db import (
    Conn,
    Database,
    DatabaseBusy,
    DatabaseUnavailable,
    Row,
    UniqueViolation,
)
from junction.store.pg_create import create_database, describe


async def _no_reset(_connection: Any) -> None:
    return None


def _count(status: str) -> int:
    # asyncpg returns e.g. "UPDATE 3", "INSERT 0 1", "DELETE 0"
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class _PgConn(Conn):
    def __init__(self, raw: Any) -> None:
        self.raw = raw

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            return _count(await self.raw.execute(sql, *args))
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from exc

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            await self.raw.executemany(sql, list(rows))
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from exc

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = await self.raw.fetchrow(sql, *args)
        return row

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        return list(await self.raw.fetch(sql, *args))


#: what a new connection meets when the server has no room for it or is restarting
_REFUSALS = (
    asyncpg.TooManyConnectionsError,
    asyncpg.CannotConnectNowError,
    ConnectionRefusedError,
)


@contextlib.contextmanager
def _busy_is_unavailable() -> Iterator[None]:
    """Translate a refused connection (the pool opening a new one) to DatabaseBusy."""
    try:
        yield
    except _REFUSALS as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise DatabaseBusy(f"the database refused a connection ({reason}); retry shortly") from exc


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(self, url: str, pool: Any) -> None:
        self.url = url
        self._pool = pool
        self._listener: Any = None
        self._pending: dict[str, set[str]] = {}
        self._notifier: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str, *, min_size: int = 2, max_size: int = 20) -> PostgresDatabase:
        url = url.replace("postgresql+asyncpg://", "postgresql://")
        # No reset on release: Junction keeps no session state on pooled connections
        # (LISTEN has its own connection), and the default reset costs a round trip.
        try:
            pool = await cls._pool_for(url, min_size, max_size)
        except asyncpg.InvalidCatalogNameError:
            await create_database(url)
            pool = await cls._pool_for(url, min_size, max_size)
        return cls(url, pool)

    @staticmethod
    async def _pool_for(url: str, min_size: int, max_size: int) -> Any:
        try:
            return await asyncpg.create_pool(
                url, min_size=min_size, max_size=max_size, reset=_no_reset
            )
        except asyncpg.InvalidCatalogNameError:
            raise
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            name, role, where = describe(url)
            raise DatabaseUnavailable(
                f"cannot open PostgreSQL database {name} on {where} as {role}: "
                f"{type(exc).__name__}: {exc}".splitlines()[0]
            ) from None

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            with _busy_is_unavailable():
                return _count(await self._pool.execute(sql, *args))
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from exc

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            with _busy_is_unavailable():
                await self._pool.executemany(sql, list(rows))
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from exc

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        with _busy_is_unavailable():
            row: Row | None = await self._pool.fetchrow(sql, *args)
        return row

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        with _busy_is_unavailable():
            return list(await self._pool.fetch(sql, *args))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        after: list[Callable[[], None]] = []
        with _busy_is_unavailable():
            raw = await self._pool.acquire()
        try:
            async with raw.transaction():
                conn = _PgConn(raw)
                conn._after = after
                yield conn
        finally:
            await self._pool.release(raw)
        for callback in after:
            callback()

    async def add_listener(self, channel: str, callback: Callable[[str], None]) -> None:
        if self._listener is None:
            self._listener = await asyncpg.connect(self.url)

        def relay(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            for item in payload.split(","):  # notify_soon batches payloads
                callback(item)

        await self._listener.add_listener(channel, relay)

    async def notify(self, channel: str, payload: str) -> None:
        await self._pool.execute("SELECT pg_notify($1, $2)", channel, payload)

    def notify_soon(self, channel: str, payload: str) -> None:
        """Send a notification after the caller's commit, batched: one is sent at once;
        those queued while it is under way go out together, as one comma-separated
        payload. Every commit that NOTIFYs takes a cluster-wide lock, so batching keeps
        data commits free of it and bounds the notifying commits per process."""
        self._pending.setdefault(channel, set()).add(payload)
        if self._notifier is None or self._notifier.done():
            self._notifier = asyncio.get_running_loop().create_task(self._send_pending())

    async def _send_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            for channel, payloads in batch.items():
                items = sorted(payloads)
                for start in range(0, len(items), 200):  # NOTIFY payloads stay under 8 KB
                    with contextlib.suppress(Exception):
                        await self.notify(channel, ",".join(items[start : start + 200]))

    async def close(self) -> None:
        if self._notifier is not None:
            with contextlib.suppress(Exception):
                await self._notifier
        if self._listener is not None:
            await self._listener.close()
        await self._pool.close()
