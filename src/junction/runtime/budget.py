"""The server-side budget per project and UTC day, in tokens and in money.

Every run adds the tokens it used and their cost to ``project_usage`` (and the per-key,
per-model rollup ``usage_daily``) when it ends; a run checks the day's totals (re-read at
most once a second) plus its own before each model call and ends ``budget_exceeded`` once
the project's budget is spent. ``0`` means no budget.

Run ends are written in groups: every run of a project adds to the same day's row, so
one transaction per run ending had every worker of every process queue on that row's
lock (on PostgreSQL up to 36 connections waiting at 2 × 32 runs at once). A run's end
joins the pending group and waits until a transaction that holds its delta has
committed; one transaction per process at a time writes everything pending, summed.

On SQLite, where writers take turns anyway and a statement costs microseconds, a run's
usage is written in the transaction that writes the run's end instead (:meth:`at_end`):
one transaction per run, not two. Should that transaction not commit (the run was ended
elsewhere), the usage is recorded on its own as before.

On PostgreSQL a run's usage instead rides in its final write (``Journal.carry_usage``),
which is group-committed with the other runs' writes of the process, summed the same
way (``store/progress_batch.py``): one commit for both.
"""

from __future__ import annotations

import asyncio
import logging
import time

from junction import ids
from junction.runtime.journal import Journal
from junction.store.db import Conn, Database
from junction.store.usage import UsageDelta, UsageStore, add_usage

log = logging.getLogger("junction.runner")


class ProjectBudget:
    def __init__(
        self,
        db: Database,
        daily_tokens: int,
        daily_cost: float = 0.0,
        currency: str = "USD",
    ) -> None:
        self.db = db
        self.daily_tokens = daily_tokens
        self.daily_cost = daily_cost
        self.currency = currency
        self.usage = UsageStore(db)
        self._cache: dict[str, tuple[int, float, float]] = {}
        self._pending: list[UsageDelta] = []
        self._writing = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return self.daily_tokens > 0 or self.daily_cost > 0

    async def used_today(self, project_id: str) -> tuple[int, float]:
        """The project's tokens and cost of the current UTC day."""
        cached = self._cache.get(project_id)
        if cached and cached[2] > time.monotonic():
            return cached[0], cached[1]
        row = await self.db.fetchone(
            "SELECT tokens, cost FROM project_usage WHERE project_id = $1 AND day = $2",
            project_id,
            ids.today(),
        )
        tokens, cost = (int(row["tokens"]), float(row["cost"])) if row else (0, 0.0)
        self._cache[project_id] = (tokens, cost, time.monotonic() + 1.0)
        return tokens, cost

    async def exceeded(
        self, project_id: str, running: int, running_cost: float = 0.0
    ) -> str | None:
        """Why the project may not spend more (``running``/``running_cost``: this run's
        unrecorded tokens and cost)."""
        if not self.enabled:
            return None
        tokens, cost = await self.used_today(project_id)
        tokens += running
        cost += running_cost
        if self.daily_tokens > 0 and tokens >= self.daily_tokens:
            return (
                f"the project used {tokens} tokens today, its daily budget is "
                f"{self.daily_tokens} (JUNCTION_PROJECT_DAILY_TOKENS); the work so far is kept"
            )
        if self.daily_cost > 0 and cost >= self.daily_cost:
            return (
                f"the project spent {cost:.6f} {self.currency} today, its daily budget is "
                f"{self.daily_cost:g} {self.currency} (JUNCTION_PROJECT_DAILY_COST); "
                "the work so far is kept"
            )
        return None

    async def at_end(self, journal: Journal, delta: UsageDelta) -> EndUsage:
        """Record ``delta``, a run's usage at its end, with the journal's next write (the
        run's final state) where the database allows: in PostgreSQL's group-committed
        final write (``Journal.carry_usage``), or in SQLite's end transaction. Otherwise
        it is recorded now, before the end is written. Call :meth:`EndUsage.settle` once
        the end's write is over."""
        end = EndUsage(self, delta, journal)
        store = journal.store
        if journal.carry_usage(delta, self.written):
            end.done = True
        elif store is not None and store.db.in_process and delta.counts:
            journal.with_write = end.write
        else:
            await end.settle()
        return end

    def written(self, project_id: str) -> None:
        """A write elsewhere (a run's final write) added to the project's usage."""
        self._cache.pop(project_id, None)

    async def record(self, delta: UsageDelta) -> None:
        if not delta.counts:
            return
        self._pending.append(delta)
        async with self._writing:  # FIFO: an earlier holder may have written ours
            if not self._pending:
                return
            group, self._pending = self._pending, []
            try:
                await self.usage.record(group)
            except BaseException:
                self._pending[:0] = group  # the next run's end tries them again
                raise
            for each in group:
                self.written(each.project_id)


class EndUsage:
    """A run's usage at its end: written in the journal's transaction, or on its own."""

    def __init__(self, budget: ProjectBudget, delta: UsageDelta, journal: Journal) -> None:
        self.budget = budget
        self.delta = delta
        self.journal = journal
        self.done = False

    async def write(self, tx: Conn) -> None:
        await add_usage(tx, [self.delta])
        tx.after_commit(self._committed)

    def _committed(self) -> None:
        self.done = True
        self.budget.written(self.delta.project_id)

    async def settle(self) -> None:
        """Record the usage on its own unless the journal's transaction did (once; never
        raises: a failure is logged, as the run's end goes on). Call it once the
        journal's write has ended, never while it may still commit."""
        if self.journal.with_write == self.write:
            self.journal.with_write = None  # not tried: nothing was pending
        if self.done:
            return
        self.done = True
        try:
            await asyncio.shield(self.budget.record(self.delta))
        except Exception:
            log.exception("recording the usage of %s failed", self.journal.record.id)
