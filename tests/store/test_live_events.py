"""Live events of a run, as a streaming client gets them: the end of an interaction only
once it is written (never if the write fails), each event while the run goes on, and the
continuation cut passing ready events on without a turn of the event loop. On SQLite
and PostgreSQL where a database is involved."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest

from junction import jsonutil
from junction.runtime.hop_stream import cut
from junction.runtime.journal import Journal, LostOwnership
from junction.store.db import Database
from junction.store.interactions import InteractionStore
from junction.store.records import InteractionRecord
from tests.store.test_fair_queue import add_runs, project


async def running(db: Database, name: str) -> tuple[InteractionStore, InteractionRecord]:
    store = InteractionStore(db)
    project_id = await project(db, name)
    (interaction_id,) = await add_runs(db, project_id, 1, status="in_progress")
    record = await store.get(project_id, interaction_id)
    assert record is not None
    return store, record


async def follow(journal: Journal, seen: list[tuple[str, object]], store: InteractionStore) -> None:
    """Record each live event as it comes, and for the end events the status stored at
    that moment."""
    async for _, data in journal.follow(0):
        kind = json.loads(data)["event_type"]
        seen.append((kind, None))
        if kind.startswith("interaction."):
            status = await store.status_of(journal.record.id)
            seen[-1] = (kind, status[0] if status else None)


def unstored() -> Journal:
    """The journal of a store=false run."""
    now = "2026-01-01T00:00:00Z"
    record = InteractionRecord(
        id="int_live", project_id="p", status="in_progress", model="m", agent=None,
        previous_interaction_id=None, chain_id="", first_seq=0, last_seq=-1, config={},
        created=now, updated=now,
    )  # fmt: skip
    return Journal(None, record)


class Turns:
    """Counts the turns of the event loop another task gets."""

    def __init__(self) -> None:
        self.count = 0
        self.task = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(0)

    def stop(self) -> None:
        self.task.cancel()


async def test_the_end_reaches_live_followers_only_once_written(db: Database) -> None:
    store, record = await running(db, "end-written")
    journal = Journal(store, record)
    seen: list[tuple[str, object]] = []
    follower = asyncio.create_task(follow(journal, seen, store))
    await asyncio.sleep(0)  # the follower waits for the run's first event
    journal.event({"event_type": "step.delta", "index": 0})
    await journal.let_followers_send()
    assert seen == [("step.delta", None)]  # had its turn before the run goes on
    await journal.end("completed")
    journal.finish_live()
    await follower
    assert journal.final_persisted
    assert seen[1:] == [
        ("interaction.status_update", "completed"),
        ("interaction.completed", "completed"),
    ]


async def test_an_end_that_was_not_written_never_reaches_live_followers(db: Database) -> None:
    store, record = await running(db, "end-lost")
    journal = Journal(store, record)
    seen: list[tuple[str, object]] = []
    follower = asyncio.create_task(follow(journal, seen, store))
    journal.event({"event_type": "step.delta", "index": 0})
    await db.execute("UPDATE interactions SET status = 'cancelled' WHERE id = $1", record.id)
    with pytest.raises(LostOwnership):
        await journal.end("completed")
    journal.finish_live()
    await follower
    assert not journal.final_persisted
    assert [kind for kind, _ in seen] == ["step.delta"]


async def test_the_end_write_goes_on_when_its_caller_is_cancelled(db: Database) -> None:
    store, record = await running(db, "end-cancelled")
    journal = Journal(store, record)
    seen: list[tuple[str, object]] = []
    follower = asyncio.create_task(follow(journal, seen, store))
    ending = asyncio.create_task(journal.end("completed"))
    await asyncio.sleep(0)
    ending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ending
    for _ in range(100):
        if journal.final_persisted:
            break
        await asyncio.sleep(0.01)
    journal.finish_live()
    await follower
    assert seen == [
        ("interaction.status_update", "completed"),
        ("interaction.completed", "completed"),
    ]


async def test_without_a_store_the_end_is_live_at_once() -> None:
    journal = unstored()
    await journal.end("completed")
    journal.finish_live()
    kinds = [json.loads(data)["event_type"] async for _, data in journal.follow(0)]
    assert kinds == ["interaction.status_update", "interaction.completed"]


async def test_no_turn_is_taken_without_a_woken_follower() -> None:
    journal = unstored()
    turns = Turns()
    await asyncio.sleep(0)
    before = turns.count
    for _ in range(10):  # nobody follows: the run does not give up its turn
        journal.event({"event_type": "step.delta", "index": 0})
        await journal.let_followers_send()
    assert turns.count == before
    turns.stop()


# -- the continuation cut -------------------------------------------------------------------
def ev(seq: int, kind: str, index: int = 0) -> tuple[int, str]:
    return seq, jsonutil.dumps({"event_type": kind, "event_id": str(seq), "index": index})


async def ready(events: list[tuple[int, str]]) -> AsyncIterator[tuple[int, str]]:
    for item in events:
        yield item


async def test_ready_events_pass_the_cut_without_a_turn_of_the_loop() -> None:
    events = [ev(i, "step.delta") for i in range(1, 201)]
    turns = Turns()
    await asyncio.sleep(0)
    before = turns.count
    out = [item async for item in cut(ready(events), time.monotonic(), 50)]
    assert turns.count == before  # no task, no wait per event: nothing else ran meanwhile
    assert out == events
    turns.stop()


async def test_the_cut_stops_past_the_limit_once_no_step_is_open() -> None:
    gate = asyncio.Event()
    closed = False

    async def source() -> AsyncIterator[tuple[int, str]]:
        nonlocal closed
        try:
            yield ev(1, "step.start", 0)
            await gate.wait()  # the limit passes inside the open step
            yield ev(2, "step.delta", 0)
            yield ev(3, "step.stop", 0)
            await asyncio.Event().wait()  # nothing more comes
        finally:
            closed = True

    out: list[tuple[int, str] | int] = []

    async def consume() -> None:
        async for item in cut(source(), time.monotonic(), 0.05):
            out.append(item)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.1)
    assert out == [ev(1, "step.start", 0)]  # a step is never split
    gate.set()
    await asyncio.wait_for(task, 2)
    assert out == [ev(1, "step.start", 0), ev(2, "step.delta", 0), ev(3, "step.stop", 0), 1]
    assert closed


async def test_the_source_s_own_timeout_is_not_taken_for_the_limit() -> None:
    async def source() -> AsyncIterator[tuple[int, str]]:
        yield ev(1, "step.delta")
        raise TimeoutError("the source's own")

    with pytest.raises(TimeoutError, match="own"):
        async for _ in cut(source(), time.monotonic(), 50):
            pass
