"""Duty leases: one holder at a time, renewal, takeover when the lease runs out, and the
retention purge running in one process of a deployment, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter

from junction.config import Settings
from junction.retention.service import RetentionService
from junction.store.db import Database
from junction.store.duties import Duties


async def test_one_holder_at_a_time_until_the_lease_runs_out(db: Database) -> None:
    first, second = Duties(db, "host-a:1"), Duties(db, "host-b:2")
    assert await first.claim("purge", 10, now_ms=1_000)
    assert not await second.claim("purge", 10, now_ms=2_000)  # first holds it until 11,000
    assert await first.claim("purge", 10, now_ms=9_000)  # renewed: until 19,000
    assert not await second.claim("purge", 10, now_ms=12_000)
    assert await second.claim("other", 10, now_ms=12_000)  # duties are independent
    assert await second.claim("purge", 10, now_ms=19_001)  # ran out: taken over
    assert not await first.claim("purge", 10, now_ms=19_002)
    await second.release("purge")
    assert await first.claim("purge", 10, now_ms=19_003)
    await second.release("purge")  # not the holder: changes nothing
    assert not await second.claim("purge", 10, now_ms=19_004)


class CountingRetention(RetentionService):
    """The real service, with its pass replaced by a count (the loop is what is tested)."""

    passes: Counter[str] = Counter()

    def __init__(self, db: Database, name: str) -> None:
        super().__init__(db, Settings(retention_interval_seconds=0.05))
        self.name = name

    async def purge_all(self) -> Counter[str]:
        self.passes[self.name] += 1
        return Counter()


async def test_the_purge_runs_in_one_process_and_moves_when_it_stops(db: Database) -> None:
    CountingRetention.passes = Counter()
    one, two = CountingRetention(db, "one"), CountingRetention(db, "two")
    one.start()
    await asyncio.sleep(0.2)
    two.start()
    await asyncio.sleep(0.5)
    assert CountingRetention.passes["one"] >= 5
    assert CountingRetention.passes["two"] == 0
    await one.aclose()  # releases the duty: the other process takes the next pass
    await asyncio.sleep(0.5)
    await two.aclose()
    assert CountingRetention.passes["two"] >= 3
