"""Executions: recording one (running or skipped), starting its background interaction,
and ending it when the interaction ends or its time runs out.

Every end goes through :meth:`Executor.finish`: a compare-and-set on the execution's
status, the trigger's failure count (and auto-pause), and the ``on_finished`` hook, all
in one transaction, so an outcome is recorded once, by whichever process sees it first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from junction import ids
from junction.errors import ApiError
from junction.runtime.env_vars import open_spec
from junction.runtime.service import InteractionService
from junction.schedule.clock import Clock
from junction.schedule.cron import iso
from junction.schedule.records import ExecutionRecord, TriggerRecord
from junction.schedule.store import TriggerStore
from junction.store.db import Conn

log = logging.getLogger("junction.schedule")

#: called in the transaction that records an execution's outcome (completed, failed,
#: timed_out, skipped): the place where webhook events are enqueued
OnExecutionFinished = Callable[[Conn, ExecutionRecord], Awaitable[None]]

#: how long the process that fired an execution has to create its interaction before
#: another process may do it (the idempotency key makes a second attempt harmless)
START_LEASE_MS = 30_000
FAILED = frozenset({"failed", "timed_out"})


async def no_events(tx: Conn, execution: ExecutionRecord) -> None:
    """The default ``on_execution_finished``: nothing to notify."""


def event_of(execution: ExecutionRecord) -> tuple[str, dict[str, Any]]:
    """The webhook event type and data of an execution outcome, for the hook to enqueue:
    ``trigger.execution.<status>`` with the TriggerExecution resource."""
    return f"trigger.execution.{execution.status}", execution.to_wire()


def idempotency_key(execution_id: str) -> str:
    return f"junction-trigger-execution:{execution_id}"


class Executor:
    def __init__(
        self,
        store: TriggerStore,
        interactions: InteractionService,
        clock: Clock,
        on_finished: OnExecutionFinished = no_events,
        unseal: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.interactions = interactions
        self.clock = clock
        self.on_finished = on_finished
        #: opens the sealed ``env`` of a template's environment object (runtime/env_vars)
        self.unseal = unseal

    def now(self) -> tuple[int, str]:
        ms = self.clock.now_ms()
        return ms, iso(ms) or ""

    async def record_skipped(
        self, tx: Conn, trigger: TriggerRecord, scheduled_ms: int, manual: bool, error: str
    ) -> ExecutionRecord:
        _, now = self.now()
        execution = ExecutionRecord(
            id=ids.sortable_id("tex_"),
            trigger_id=trigger.id,
            project_id=trigger.project_id,
            manual=int(manual),
            scheduled_ms=scheduled_ms,
            status="skipped",
            interaction_id=None,
            environment_id=None,
            start_time=None,
            end_time=now,
            deadline_ms=None,
            start_lease_ms=0,
            error=error,
            created=now,
        )
        await self.store.insert_execution(tx, execution)
        await self.on_finished(tx, execution)
        return execution

    async def begin(
        self,
        tx: Conn,
        trigger: TriggerRecord,
        scheduled_ms: int,
        *,
        manual: bool,
        touch: bool = True,
    ) -> ExecutionRecord:
        """Record the execution for ``scheduled_ms``: running, or skipped when the
        previous one still runs and the trigger forbids overlap. ``touch``: also set the
        trigger's ``last_run_time`` (the scheduler sets it with its own update)."""
        if trigger.concurrency == "forbid":
            running = await self.store.running(tx, trigger.id)
            if running is not None:
                return await self.record_skipped(
                    tx,
                    trigger,
                    scheduled_ms,
                    manual,
                    f"skipped: execution {running} was still running (concurrency=forbid)",
                )
        now_ms, now = self.now()
        timeout = trigger.execution_timeout_seconds
        execution = ExecutionRecord(
            id=ids.sortable_id("tex_"),
            trigger_id=trigger.id,
            project_id=trigger.project_id,
            manual=int(manual),
            scheduled_ms=scheduled_ms,
            status="in_progress",
            interaction_id=None,
            environment_id=trigger.environment_id,
            start_time=now,
            end_time=None,
            deadline_ms=now_ms + timeout * 1000 if timeout else None,
            start_lease_ms=int(time.time() * 1000) + START_LEASE_MS,
            error=None,
            created=now,
        )
        await self.store.insert_execution(tx, execution)
        if touch:
            await self.store.update(tx, trigger.id, last_run_time=now, updated=now)
        return execution

    async def start(self, execution: ExecutionRecord, trigger: TriggerRecord) -> None:
        """Create the execution's background interaction (at most once: keyed by the
        execution id), or end the execution ``failed`` when it cannot be created."""
        body: dict[str, Any] = {**trigger.interaction, "background": True}
        body.pop("stream", None)
        if trigger.environment_id:
            body["environment"] = trigger.environment_id
        try:
            if self.unseal is not None and "environment" in body:
                body["environment"] = open_spec(body["environment"], self.unseal)
            created = await self.interactions.create(
                trigger.project_id, body, idempotency_key=idempotency_key(execution.id)
            )
        except ApiError as exc:
            await self.finish(execution, "failed", f"the interaction could not start: {exc}")
            return
        record = created.record
        if not await self.store.set_interaction(execution, record.id, record.environment_id):
            # The execution ended meanwhile (timed out): its interaction must not run on.
            try:
                await self.interactions.cancel(record.project_id, record.id)
            except ApiError:
                pass

    async def finish(self, execution: ExecutionRecord, status: str, error: str | None) -> bool:
        _, now = self.now()
        async with self.store.db.transaction() as tx:
            await self.store.lock_trigger(tx, execution.trigger_id)
            done = await self.store.finish(tx, execution.id, status, now, error)
            if done is None:
                return False
            paused = await self.store.record_outcome(
                tx, execution.trigger_id, status in FAILED, now
            )
            await self.on_finished(tx, done)
        if paused:
            log.warning("trigger %s paused after consecutive failures", execution.trigger_id)
        return True
