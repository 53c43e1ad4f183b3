"""The journal of one interaction: its steps and its event stream.

Every step and every event goes through here. Events get a per-interaction sequence
number (their ``event_id``) and are appended at once to an in-memory log that live
followers in this process read (:meth:`follow`); steps, events and status changes are
written to the database together, in one transaction, at each persist point (before
each model call, and at the end). With ``store=false`` there is no database and the
journal only feeds the live stream.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from junction import jsonutil
from junction.ids import now_iso, sortable_id
from junction.notify import outbox
from junction.store.db import EVENTS_CHANNEL, JOBS_CHANNEL, Conn
from junction.store.deliveries import OutboxMessage, write_message
from junction.store.fresh_insert import insert_fresh
from junction.store.interactions import InteractionStore
from junction.store.records import InteractionRecord
from junction.store.usage import UsageDelta


class LostOwnership(Exception):
    """The interaction's state changed under us (cancelled, deleted, taken over)."""


class Journal:
    def __init__(
        self,
        store: InteractionStore | None,
        record: InteractionRecord,
        *,
        event_seq: int = 0,
    ) -> None:
        self.store = store
        self.record = record
        self._event_seq = event_seq
        #: the first sequence number this journal emitted; earlier events are in the database
        self.base_seq = event_seq
        self.log: list[tuple[int, str]] = []
        #: live events held back from followers until the write that stores them (end)
        self._held: list[tuple[int, str]] | None = None
        self.done = False
        self._wakeup = asyncio.Event()
        #: live followers parked in :meth:`follow` (see :meth:`let_followers_send`)
        self._waiting = 0
        self._persisted_status = record.status
        self._pending_steps: list[tuple[int, dict[str, Any]]] = []
        self._pending_events: list[tuple[int, str]] = []
        #: writes the interaction row itself, at the first persist (deferred insert)
        self.insert_hook: Callable[[Conn, InteractionRecord], Awaitable[None]] | None = None
        #: the row starts a new conversation (no previous interaction): on PostgreSQL the
        #: deferred insert is one statement (store/fresh_insert.py), not the hook's
        self.fresh_chain = False
        #: True once the final state has been written
        self.final_persisted = False
        #: wake workers when the row is inserted (a queued interaction)
        self.notify_jobs = False
        self._notify: list[str] = []
        self._wake_webhooks = False
        #: one more write for the next persist's transaction (a run's usage at its end);
        #: dropped once tried, whether or not the transaction committed
        self.with_write: Callable[[Conn], Awaitable[None]] | None = None
        # The run persists, and a continuation hop may make the run durable meanwhile.
        self._persist_lock = asyncio.Lock()
        #: the run's addition to the usage rollups, riding in its next write (its end)
        self._usage: tuple[UsageDelta, Callable[[str], None]] | None = None

    @property
    def steps(self) -> list[dict[str, Any]]:
        return self.record.steps

    @property
    def next_index(self) -> int:
        return len(self.record.steps)

    # -- events -------------------------------------------------------------------------
    def event(self, payload: dict[str, Any], *, live: bool = True, stored: bool = True) -> None:
        """Emit an event. A streamed media chunk is ``live`` only (the stored log holds
        the whole item as one delta instead, emitted ``stored`` only), so each reader
        sees the item once: live followers in chunks, a replay whole."""
        self._event_seq += 1
        seq = self._event_seq
        payload["event_id"] = str(seq)
        data = jsonutil.dumps(payload)
        if stored and self.store is not None:
            self._pending_events.append((seq, data))
        if live and self._held is not None:
            self._held.append((seq, data))
        elif live:
            self.log.append((seq, data))
            self._wakeup.set()

    def status_event(self) -> None:
        self.event(
            {
                "event_type": "interaction.status_update",
                "interaction_id": self.record.id,
                "status": self.record.status,
            }
        )

    def summary(self) -> dict[str, Any]:
        """The partial interaction carried by interaction.created / .completed events."""
        wire = self.record.to_wire(steps=False)
        return {
            k: wire[k]
            for k in (
                "id",
                "object",
                "status",
                "model",
                "agent",
                "created",
                "updated",
                "usage",
                "errors",
                "environment_id",
            )
            if k in wire
        }

    # -- steps and status ---------------------------------------------------------------
    def add_step(self, step: dict[str, Any]) -> int:
        index = len(self.record.steps)
        self.record.steps.append(step)
        self.record.last_seq += 1
        self._pending_steps.append((self.record.last_seq, step))
        return index

    def set_status(self, status: str, errors: list[dict[str, Any]] | None = None) -> None:
        self.record.status = status
        if errors:
            self.record.errors = (self.record.errors or []) + errors
        self.record.updated = now_iso()
        self.status_event()

    def complete_event(self) -> None:
        self.event({"event_type": "interaction.completed", "interaction": self.summary()})

    async def end(
        self,
        status: str,
        errors: list[dict[str, Any]] | None = None,
        after: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """End the interaction with ``status``: its status and ``interaction.completed``
        events and its final state, written (the write goes on if the caller is
        cancelled), then ``after()`` (whether the write succeeded or not). Live followers
        get those two events only once they are written: a client that saw the end knows
        it is stored. If the write fails they never get them; a follower then reads from
        the log how the interaction really ended."""
        held: list[tuple[int, str]] = []
        self._held = held
        try:
            self.set_status(status, errors)
            self.complete_event()
        finally:
            self._held = None
        write = asyncio.ensure_future(self._persist_then(after))

        def release(write: asyncio.Future[None]) -> None:
            if write.cancelled() or write.exception() is not None:
                return
            self.final_persisted = True
            self.log.extend(held)
            self._wakeup.set()

        write.add_done_callback(release)  # before the caller's own wake-up
        await asyncio.shield(write)

    async def _persist_then(self, after: Callable[[], Awaitable[None]] | None) -> None:
        try:
            await self.persist()
        finally:
            if after is not None:
                await after()

    # -- persistence ----------------------------------------------------------------------
    def carry_usage(self, delta: UsageDelta, written: Callable[[str], None]) -> bool:
        """Write ``delta`` with the next persist, in the same commit, if that persist is
        group-committed (PostgreSQL, the row already inserted, no per-request webhook
        destinations); ``written(project_id)`` is called once it committed. False: the
        caller records it itself."""
        if self.store is None or self.store.db.dialect != "postgresql":
            return False
        if self.insert_hook is not None or (self.record.config.get("webhook_config") or {}).get(
            "uris"
        ):
            return False
        if delta.counts:
            self._usage = (delta, written)
        return True

    async def _write(
        self,
        tx: Conn,
        record: InteractionRecord,
        steps: list[tuple[int, dict[str, Any]]],
        events: list[tuple[int, str]],
        inserted: bool,
        message: OutboxMessage | None,
    ) -> None:
        """Write ``steps`` and ``events`` and the state of ``record`` (a snapshot) inside
        the caller's transaction (``inserted``: the row was just inserted with it), and
        the webhook ``message`` its status raises (:meth:`_outbox_message`, made once)."""
        assert self.store is not None
        await self.store.append_steps(tx, record, steps)
        await self.store.append_events(tx, record.id, events)
        # Every write of a run checks its status and fencing token (compare-and-set).
        if not inserted and not await self.store.update_state(
            tx, record, expect=self._persisted_status
        ):
            raise LostOwnership(record.id)
        if message is not None and await write_message(
            tx, message, outbox.now_ms(), now_iso(), outbox.max_pending()
        ):
            self._wake_webhooks = True
        # Notifications go out after the commit: a just-inserted row has no followers
        # yet, but a queued one wakes the workers.
        if inserted:
            if self.notify_jobs:
                self._notify.append(JOBS_CHANNEL)
        elif events:
            self._notify.append(EVENTS_CHANNEL)

    async def persist(self) -> None:
        """Write what is pending. Safe to call from another task while the run goes on
        (a continuation hop does): what is written is the state when the call began,
        and what the run adds meanwhile stays pending for the next call."""
        async with self._persist_lock:
            await self._persist()

    def _written(self, snap: InteractionRecord, steps: int, events: int) -> None:
        del self._pending_steps[:steps]
        del self._pending_events[:events]
        self._persisted_status = snap.status

    async def _persist(self) -> None:
        if self.store is None:
            self._pending_steps.clear()
            return
        if not (
            self._pending_steps
            or self._pending_events
            or self.record.status != self._persisted_status
            or self.insert_hook is not None
        ):
            return
        self._notify.clear()
        self._wake_webhooks = False
        snap = dataclasses.replace(self.record)
        steps, events = list(self._pending_steps), list(self._pending_events)
        message = self._outbox_message(snap)
        extra, self.with_write = self.with_write, None
        if self.store.db.dialect == "postgresql" and extra is None:
            if self.insert_hook is None and not (message is not None and message.uris):
                await self._write_progress(snap, steps, events, message)
                return
            if self.fresh_chain and message is None:
                await self._insert_fresh(snap, steps, events)
                return
        async with self.store.db.transaction() as tx:
            hook, self.insert_hook = self.insert_hook, None
            try:
                if hook is not None:
                    await hook(tx, snap)
                    self.record.chain_id = snap.chain_id
                await self._write(tx, snap, steps, events, hook is not None, message)
                if extra is not None:
                    await extra(tx)
            except BaseException:
                self.insert_hook = hook
                raise
        self._written(snap, len(steps), len(events))
        for channel in self._notify:
            self.store.db.notify_soon(channel, self.record.id)
        if self._wake_webhooks:
            outbox.wake(self.store.db)

    async def _insert_fresh(
        self,
        snap: InteractionRecord,
        steps: list[tuple[int, dict[str, Any]]],
        events: list[tuple[int, str]],
    ) -> None:
        """PostgreSQL fast path of the deferred insert of a new conversation's row."""
        assert self.store is not None and self.insert_hook is not None
        snap.chain_id = sortable_id("ch_")
        await insert_fresh(self.store.db, snap, steps, events)
        self.insert_hook = None
        self.record.chain_id = snap.chain_id
        self._written(snap, len(steps), len(events))
        if self.notify_jobs:
            self.store.db.notify_soon(JOBS_CHANNEL, snap.id)

    def _outbox_message(self, record: InteractionRecord) -> OutboxMessage | None:
        """The webhook message this persist raises: the status changed to one that has
        an event (written with the status, in the same transaction)."""
        if record.status == self._persisted_status:
            return None
        return outbox.interaction_message(
            record.project_id, record.id, record.status, record.errors, record.config
        )

    async def _write_progress(
        self,
        snap: InteractionRecord,
        steps: list[tuple[int, dict[str, Any]]],
        events: list[tuple[int, str]],
        message: OutboxMessage | None,
    ) -> None:
        """PostgreSQL fast path: everything pending in one statement (the static
        webhooks' outbox rows included)."""
        assert self.store is not None
        usage, self._usage = self._usage, None
        try:
            written = await self.store.write_progress(
                snap,
                steps,
                events,
                expect=self._persisted_status,
                outbox=(message, outbox.now_ms(), now_iso(), outbox.max_pending())
                if message is not None
                else None,
                usage=usage[0] if usage is not None else None,
            )
        except asyncio.CancelledError:
            self._usage = usage  # withdrawn before it was written: for the next persist
            raise
        if usage is not None:
            usage[1](usage[0].project_id)
        if written is None:
            raise LostOwnership(snap.id)
        if written:
            outbox.wake(self.store.db)
        if events:
            self.store.db.notify_soon(EVENTS_CHANNEL, snap.id)
        self._written(snap, len(steps), len(events))

    def finish_live(self) -> None:
        self.done = True
        self._wakeup.set()

    async def follow(self, after: int) -> AsyncIterator[tuple[int, str]]:
        """Yield this journal's events with a sequence number above ``after``, live,
        until the run ends. (Events at or below ``base_seq`` come from the database.)"""
        position = 0
        while True:
            log = self.log
            while position < len(log):
                seq, data = log[position]
                position += 1
                if seq > after:
                    yield seq, data
            if self.done:
                return
            self._wakeup.clear()
            if position < len(self.log) or self.done:
                continue
            self._waiting += 1
            try:
                await self._wakeup.wait()
            finally:
                self._waiting -= 1

    async def let_followers_send(self) -> None:
        """Give the live followers woken by the events just emitted a turn of the event
        loop to send them before the run goes on. A provider's answer can arrive whole
        in one read, and the run would otherwise work through all of it (and its final
        write, which on SQLite holds the loop) before its first delta left; one turn
        per event, taken only while a woken follower has not run yet."""
        if self._waiting and self._wakeup.is_set():
            await asyncio.sleep(0)
