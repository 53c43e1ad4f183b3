"""The scheduler loop every ``junction serve`` and ``junction worker`` process runs.

Firing is exactly once per trigger and scheduled time: a due trigger is claimed in a
transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite transactions are serial),
its executions are inserted under a unique key on (trigger, scheduled time) and its next
time is advanced in the same transaction. After downtime only the most recent missed
time runs (``catch_up=latest``) or none does (``catch_up=none``); the others are
recorded ``skipped``. The loop sleeps until the soonest next time (or ``poll_seconds``),
and every ``poll_seconds`` it also ends executions whose interaction has ended, cancels
those past their timeout, and starts those whose firing process died before starting
them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from junction.config import Settings
from junction.errors import ApiError
from junction.schedule.cron import next_after, times_between
from junction.schedule.executor import START_LEASE_MS, Executor
from junction.schedule.records import ExecutionRecord, TriggerRecord
from junction.schedule.store import TriggerStore
from junction.store.db import Conn

log = logging.getLogger("junction.schedule")

#: due triggers fired in one transaction
BATCH = 20
#: missed times recorded as skipped executions after downtime (older ones are not)
MAX_SKIPPED = 100
#: how far back missed times are looked for after downtime
LOOKBACK_MS = 2 * 86_400_000
MISSED = "skipped: missed while no Junction process was running; catch_up={} ran {}"


def outcome(
    execution: ExecutionRecord, status: str | None, errors: str | None, now_ms: int
) -> tuple[str, str | None]:
    """The execution status (and error) that follows from its interaction's end."""
    if status is None:
        return "failed", f"interaction {execution.interaction_id} was deleted while it ran"
    if status == "completed":
        return "completed", None
    if execution.deadline_ms is not None and now_ms >= execution.deadline_ms:
        return "timed_out", "the execution ran past execution_timeout_seconds and was cancelled"
    if status == "requires_action":
        return "failed", "the interaction stopped for client function results (requires_action)"
    message = f"the interaction ended {status}"
    with contextlib.suppress(ValueError, TypeError, KeyError, IndexError):
        message += ": " + str(json.loads(errors or "")[0]["message"])
    return "failed", message


class Scheduler:
    def __init__(self, store: TriggerStore, executor: Executor, settings: Settings) -> None:
        self.store = store
        self.executor = executor
        self.clock = executor.clock
        self.poll_seconds = settings.trigger_poll_seconds
        self.retention = settings.trigger_execution_retention
        self.grace_ms = int(settings.trigger_misfire_grace_seconds * 1000)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_sweep = 0.0
        self._starting: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def _started(self, task: asyncio.Task[None]) -> None:
        self._starting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The execution keeps its start lease; a sweep starts it when that lapses.
            log.error("starting a trigger execution failed", exc_info=task.exception())

    async def stop(self) -> None:
        """Stop the loop; interactions being created are given a moment to be created
        (an interrupted one is created by another process once its start lease lapses)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._starting:
            await asyncio.wait(set(self._starting), timeout=5)
        for task in list(self._starting):
            task.cancel()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()  # before the work: a wake during it is not lost
            try:
                await self.fire_due()
                if time.monotonic() - self._last_sweep >= self.poll_seconds:
                    self._last_sweep = time.monotonic()
                    await self.sweep()
                wait = await self._until_next()
            except Exception:
                log.exception("trigger scheduler tick failed; retrying")
                wait = self.poll_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _until_next(self) -> float:
        wait = min(self.poll_seconds, self.clock.max_sleep)
        soonest = await self.store.soonest()
        if soonest is not None:
            wait = min(wait, max(0.005, (soonest - self.clock.now_ms()) / 1000))
        return wait

    # -- firing ---------------------------------------------------------------------------
    async def fire_due(self) -> int:
        """Fire every due trigger, up to BATCH per transaction, then start the runs (all
        claims first: creating interactions would slow the claims down); the number of
        executions started. After a failed batch it goes on one trigger at a time, so
        the trigger that fails is found and postponed while the others fire."""
        to_start: list[tuple[ExecutionRecord, TriggerRecord]] = []
        try:
            await self._claim_all(BATCH, to_start)
        finally:  # what was recorded is started, even when a later claim failed
            for execution, trigger in to_start:
                task = asyncio.get_running_loop().create_task(
                    self.executor.start(execution, trigger)
                )
                self._starting.add(task)
                task.add_done_callback(self._started)
        return len(to_start)

    async def _claim_all(
        self, size: int, to_start: list[tuple[ExecutionRecord, TriggerRecord]]
    ) -> None:
        while True:
            now_ms = self.clock.now_ms()
            claimed: list[str] = []
            try:
                async with self.store.db.transaction() as tx:
                    triggers = await self.store.claim_due(tx, now_ms, size)
                    if not triggers:
                        return
                    claimed = [t.id for t in triggers]
                    fired = [(await self._fire(tx, t, now_ms), t) for t in triggers]
            except Exception:
                if not claimed:
                    raise
                if len(claimed) > 1:
                    size = 1
                    continue
                log.exception("firing trigger %s failed; retrying in a minute", claimed[0])
                await self._postpone(claimed[0], now_ms)
                continue
            to_start += [(e, t) for e, t in fired if e is not None and e.status == "in_progress"]

    async def _fire(self, tx: Conn, trigger: TriggerRecord, now_ms: int) -> ExecutionRecord | None:
        assert trigger.next_run_ms is not None
        first = trigger.next_run_ms
        if now_ms - first > LOOKBACK_MS:
            first = next_after(trigger.schedule, trigger.time_zone, now_ms - LOOKBACK_MS) or first
        due = times_between(trigger.schedule, trigger.time_zone, first, now_ms) or [first]
        if trigger.catch_up == "latest":
            run_ms: int | None = due[-1]
        else:
            run_ms = due[-1] if now_ms - due[-1] <= self.grace_ms else None
        missed = [t for t in due if t != run_ms][-MAX_SKIPPED:]
        ran = "the most recent one" if trigger.catch_up == "latest" else "none"
        for scheduled in missed:
            await self.executor.record_skipped(
                tx, trigger, scheduled, False, MISSED.format(trigger.catch_up, ran)
            )
        execution = None
        if run_ms is not None:
            execution = await self.executor.begin(tx, trigger, run_ms, manual=False, touch=False)
        following = next_after(trigger.schedule, trigger.time_zone, max(now_ms, due[-1]))
        if execution is not None and execution.status == "in_progress":
            started = execution.start_time
            await self.store.update(
                tx, trigger.id, next_run_ms=following, last_run_time=started, updated=started
            )
        else:
            await self.store.update(tx, trigger.id, next_run_ms=following)
        await self.store.prune(tx, trigger.id, self.retention)
        log.info("trigger %s fired for %d (%d missed)", trigger.id, due[-1], len(missed))
        return execution

    async def _postpone(self, trigger_id: str, now_ms: int) -> None:
        """A trigger whose firing fails is retried a minute later, not in a hot loop."""
        with contextlib.suppress(Exception):
            async with self.store.db.transaction() as tx:
                await self.store.update(tx, trigger_id, next_run_ms=now_ms + 60_000)

    # -- sweeps ---------------------------------------------------------------------------
    async def sweep(self) -> None:
        now_ms = self.clock.now_ms()
        for execution in await self.store.overdue(now_ms):
            await self._time_out(execution)
        for execution, status, errors in await self.store.ended():
            state, error = outcome(execution, status, errors, now_ms)
            await self.executor.finish(execution, state, error)
        lease_now = int(time.time() * 1000)
        for execution in await self.store.unstarted(lease_now):
            if await self.store.take_start_lease(
                execution.id, execution.start_lease_ms, lease_now + START_LEASE_MS
            ):
                trigger = await self.store.get(execution.project_id, execution.trigger_id)
                if trigger is None:
                    await self.executor.finish(execution, "failed", "the trigger was deleted")
                else:
                    await self.executor.start(execution, trigger)

    async def _time_out(self, execution: ExecutionRecord) -> None:
        """Cancel the interaction (a durable request every process sees), then end the
        execution ``timed_out``; a crash in between is finished by the next sweep."""
        if execution.interaction_id:
            with contextlib.suppress(ApiError):
                await self.executor.interactions.cancel(
                    execution.project_id, execution.interaction_id
                )
        await self.executor.finish(
            execution,
            "timed_out",
            "the execution ran past execution_timeout_seconds and was cancelled",
        )
