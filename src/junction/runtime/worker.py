"""The worker pool: claims runnable interactions from the database and runs them.

A claim is atomic (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, an immediate transaction on
SQLite) and takes a lease with a fresh fencing token. Workers wake on a signal — in
process when this process creates background work, through LISTEN/NOTIFY across
PostgreSQL processes — and poll only as a fallback. A run that was interrupted (its
worker died, or the server stopped) is claimed again once its lease lapses and resumes
from its last persisted step; one that has been started ``max_attempts`` times ends
``failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from junction.ids import now_iso
from junction.runtime.registry import RunRegistry, now_ms
from junction.store.db import JOBS_CHANNEL
from junction.store.interactions import InteractionStore
from junction.store.records import InteractionRecord

log = logging.getLogger("junction.worker")


class WorkerPool:
    def __init__(
        self,
        store: InteractionStore,
        registry: RunRegistry,
        start_run: Callable[[InteractionRecord], Awaitable[None]],
        *,
        capacity: int,
        poll_interval: float = 1.0,
        max_running: int = 0,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.start_run = start_run
        self.capacity = capacity
        self.poll_interval = poll_interval
        #: a project's cap of runs at once (0: none); claims skip projects at it
        self.max_running = max_running
        self.weights = dict(weights or {})  # fair-scheduling shares by project name
        #: the queue may hold runs this process could claim: a new background run then
        #: waits its turn (fair claiming) instead of starting ahead of them
        self.backlog = True
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def free(self) -> int:
        return self.capacity - len(self.registry.runs)

    def wake(self, _payload: str = "") -> None:
        self.backlog = True
        self._wake.set()

    async def start(self) -> None:
        await self.store.db.add_listener(JOBS_CHANNEL, self.wake)
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            # Cleared before claiming, so a wake-up during the claims is not lost.
            self._wake.clear()
            self.registry.freed.clear()
            contended = 0
            try:
                while self.free > 0:
                    slots = self.free
                    records = await self.store.claim_many(
                        self.registry.owner,
                        now_ms(),
                        self.registry.lease_ms,
                        now_iso(),
                        slots,
                        max_running=self.max_running,
                        weights=self.weights,
                    )
                    for record in records:
                        log.info("claimed %s (attempt %d)", record.id, record.attempts)
                        await self.start_run(record)
                    # Other workers took some planned runs: plan again (twice at most
                    # without claiming any, in case rows stay locked).
                    contended = 0 if records else contended + 1
                    if len(records) < slots and not (self.store.claim_contended and contended <= 2):
                        # Runs of projects at their cap wait for one of theirs to end.
                        self.backlog = (
                            self._wake.is_set()
                            or self.store.capped_waiting
                            or self.store.claim_contended
                        )
                        break
                else:
                    self.backlog = True
            except Exception:
                log.exception("claiming work failed; retrying")
            waiters = [asyncio.ensure_future(self._wake.wait())]
            if self.backlog or self.free <= 0:
                # A run ending here frees a slot, and may free its project's cap.
                waiters.append(asyncio.ensure_future(self.registry.freed.wait()))
            _, pending = await asyncio.wait(
                waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in pending:
                waiter.cancel()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
