"""Following an interaction's events: replay from the durable log, then live.

Live events come from the run's journal when the run is in this process; otherwise
from the log, re-read when a NOTIFY says new events were written (PostgreSQL) or every
``POLL_INTERVAL`` as a fallback. No gaps, no duplicates: events are read strictly after
the last sequence number delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator

from junction.runtime.journal import Journal
from junction.runtime.registry import RunRegistry
from junction.store.db import EVENTS_CHANNEL
from junction.store.interactions import InteractionStore
from junction.store.records import RUNNING, InteractionRecord

POLL_INTERVAL = 0.1
NOTIFIED_POLL_INTERVAL = 1.0


class Follower:
    def __init__(self, store: InteractionStore, runs: RunRegistry) -> None:
        self.store = store
        self.runs = runs
        self._waiters: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self._notified = False

    async def start(self) -> None:
        if self.store.db.dialect == "postgresql":
            await self.store.db.add_listener(EVENTS_CHANNEL, self._written)
            self._notified = True

    def _written(self, interaction_id: str) -> None:
        for event in self._waiters.get(interaction_id, ()):
            event.set()

    def _register(self, interaction_id: str) -> asyncio.Event:
        """A wake-up registered *before* the log is read: a notification that arrives
        between the read and the wait is not lost."""
        event = asyncio.Event()
        self._waiters[interaction_id].add(event)
        return event

    def _unregister(self, interaction_id: str, event: asyncio.Event) -> None:
        waiters = self._waiters.get(interaction_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[interaction_id]

    async def _wait(self, event: asyncio.Event) -> None:
        timeout = NOTIFIED_POLL_INTERVAL if self._notified else POLL_INTERVAL
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def events(
        self, record: InteractionRecord, after: int, journal: Journal | None = None
    ) -> AsyncIterator[tuple[int, str]]:
        """Every event after ``after``, then live until the interaction ends. (An open
        stream keeps the interaction's id, not its record.)"""
        return self._events(record.id, after, journal)

    async def _events(
        self, interaction_id: str, after: int, journal: Journal | None
    ) -> AsyncIterator[tuple[int, str]]:
        last = after
        followed_live = False
        while True:
            live = journal or (run.journal if (run := self.runs.get(interaction_id)) else None)
            if followed_live:
                live = None  # the run ended here; anything later is in the log
            if live is not None and (live.store is None or last >= live.base_seq):
                async for seq, data in live.follow(last):
                    last = seq
                    yield seq, data
                if live.store is None:
                    return
                followed_live = True
                continue
            wakeup = self._register(interaction_id)
            try:
                rows = await self.store.events_after(interaction_id, last, limit=500)
                for seq, data in rows:
                    last = seq
                    yield seq, data
                if rows:
                    continue
                if live is not None:
                    last = max(last, live.base_seq)
                    continue
                state = await self.store.status_of(interaction_id)
                if state is None or state[0] not in RUNNING:
                    if not await self.store.events_after(interaction_id, last, limit=1):
                        return
                    continue
                await self._wait(wakeup)
            finally:
                self._unregister(interaction_id, wakeup)
