"""Run ends written in groups (``runtime/budget.py``), on a real SQLite and PostgreSQL
database: many runs of one project ending at once all count, in fewer transactions than
runs; a group whose transaction fails is written by the next run's end."""

from __future__ import annotations

import asyncio

import pytest

from junction.ids import today
from junction.runtime.budget import ProjectBudget
from junction.store.db import Database
from junction.store.usage import UsageDelta, UsageStore


def delta(project: str, model: str, tokens: int) -> UsageDelta:
    return UsageDelta(project, today(), "key1", model, 1, tokens, 2 * tokens, 0, 0, 0.5)


class CountingStore(UsageStore):
    def __init__(self, db: Database, fail_first: bool = False) -> None:
        super().__init__(db)
        self.groups: list[int] = []
        self.fail_first = fail_first

    async def record(self, deltas: list[UsageDelta]) -> None:
        await asyncio.sleep(0.01)  # a transaction takes a while: run ends pile up
        if self.fail_first:
            self.fail_first = False
            raise RuntimeError("database went away")
        self.groups.append(len(deltas))
        await super().record(deltas)


async def test_concurrent_run_ends_all_count_in_fewer_transactions(db: Database) -> None:
    budget = ProjectBudget(db, daily_tokens=0)
    budget.usage = store = CountingStore(db)
    ends = [delta("p1", f"m{i % 3}", i + 1) for i in range(40)] + [delta("p2", "m0", 7)]
    await asyncio.gather(*(budget.record(d) for d in ends))
    assert sum(store.groups) == 41 and len(store.groups) < 10
    p1_tokens = sum(3 * (i + 1) for i in range(40))
    assert await budget.used_today("p1") == (p1_tokens, 20.0)
    assert await budget.used_today("p2") == (21, 0.5)
    rows = await store.report("p1", today(), today(), ["model"])
    assert [(r["model"], r["interactions"]) for r in rows] == [("m0", 14), ("m1", 13), ("m2", 13)]
    assert sum(r["total_tokens"] for r in rows) == p1_tokens


async def test_a_failed_group_is_written_by_the_next_run_end(db: Database) -> None:
    budget = ProjectBudget(db, daily_tokens=0)
    budget.usage = CountingStore(db, fail_first=True)
    with pytest.raises(RuntimeError):
        await budget.record(delta("p1", "m", 10))
    await budget.record(delta("p1", "m", 1))
    assert await budget.used_today("p1") == (33, 1.0)
