"""Group commit at the application level, per process (PostgreSQL).

Each write of a run — its creation, its progress, its end with its usage — was its own
statement and its own commit, and the commits (each a WAL flush, and on a busy machine
a queue on the WAL write lock) bounded throughput. A :class:`GroupCommit` writes the
items that arrive while its previous batch commits together, with one call of its
``write_many`` (one statement: one round trip, one commit, one WAL flush for all).
Still fully durable: :meth:`GroupCommit.write` returns only once the transaction holding
its item has committed.

One bad item never fails the others: when a batch fails, each of its items is written
alone, and only an item whose own write fails gets the error (a unique violation, say).

A caller cancelled while its item waits for a batch withdraws it (nothing of it is
written); one cancelled while its batch is being written gets the outcome, and the
cancellation takes effect at its next await — so the caller always knows whether its
write landed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger("junction.store")

T = TypeVar("T")
R = TypeVar("R")

#: items in one statement at most (the rest wait for the next)
MAX_BATCH = 256


class GroupCommit(Generic[T, R]):
    def __init__(self, write_many: Callable[[Sequence[T]], Awaitable[list[R]]]) -> None:
        self._write_many = write_many  # one statement: one outcome per item
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None
        #: statements written (batches, and items alone after a failed batch)
        self.statements = 0

    async def write(self, item: T) -> R:
        """Write ``item`` with whatever else is pending; returns once it committed."""
        loop = asyncio.get_running_loop()
        entry = (item, loop.create_future())
        self._queue.append(entry)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        try:
            return await asyncio.shield(entry[1])
        except asyncio.CancelledError:
            if entry in self._queue:  # not taken yet: withdrawn, nothing of it written
                self._queue.remove(entry)
                raise
            if entry[1].cancelled():  # the batch itself was stopped (the loop closing)
                raise
        try:
            return await _landed(entry[1])
        finally:
            task = asyncio.current_task()
            if task is not None:
                task.cancel()  # delivered at the caller's next await

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                await self._write(batch)
            except BaseException as exc:  # the task itself stopped: no caller waits forever
                for _, future in batch + self._queue:
                    if future.done():
                        continue
                    if isinstance(exc, asyncio.CancelledError):
                        future.cancel()
                    else:
                        future.set_exception(exc)
                self._queue = []
                raise

    async def _write(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            self.statements += 1
            outcomes = await self._write_many([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            log.warning("a batch of %d writes failed; writing each alone", len(batch))
            for item, future in batch:
                try:
                    self.statements += 1
                    (outcome,) = await self._write_many([item])
                except Exception as alone:
                    _settle(future, alone)
                else:
                    _settle(future, outcome)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome)


def columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows of ``width`` values as ``width`` arrays (a batch statement's unnest
    arguments)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


def _settle(future: asyncio.Future[R], outcome: R | Exception) -> None:
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


async def _landed(future: asyncio.Future[R]) -> R:
    """The outcome of a write already being written, whatever cancels the wait."""
    while True:
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.done():
                return future.result()
