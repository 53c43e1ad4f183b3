"""Cutting an event stream into continuation hops: events pass through until the
continuation limit has passed with no step open (a step is never split between hops)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from junction import jsonutil
from junction.store.records import InteractionRecord


async def cut(
    events: AsyncIterator[tuple[int, str]], started: float, after: float
) -> AsyncIterator[tuple[int, str] | int]:
    """Pass events through until the limit has passed with no step open; then yield
    the number of the run's steps delivered (``-1``: none of its own yet) and stop.

    The next event is awaited in the caller's task, not in a task of its own: an event
    that is ready passes through without a turn of the event loop (a task and a wait
    per event made every event wait for whatever else was ready, e.g. the run's own
    provider call, before it was sent). Past the limit with no step open, the wait is
    cancelled where it is: the source is not read again (it is closed), and an event it
    had not yielded yet is not lost, since the next hop starts after the last one
    yielded here."""
    iterator = aiter(events)
    deadline = started + after
    open_step = False
    stopped = -1
    try:
        while True:
            if not open_step and time.monotonic() >= deadline:
                yield stopped
                return
            try:
                if open_step:  # a step is never split: wait for its end, however long
                    seq, data = await anext(iterator)
                else:
                    async with asyncio.timeout_at(_loop_time(deadline)) as limit:
                        seq, data = await anext(iterator)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if open_step or not limit.expired():
                    raise  # the source's own timeout
                continue
            kind = data[15 : data.index('"', 15)] if data.startswith('{"event_type":"') else ""
            if kind == "step.start":
                open_step = True
            elif kind == "step.stop":
                open_step = False
                stopped = int(jsonutil.loads(data)["index"]) + 1
            yield seq, data
    finally:
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()


def _loop_time(monotonic: float) -> float:
    """``monotonic`` (``time.monotonic``) on the running loop's clock."""
    return asyncio.get_running_loop().time() + monotonic - time.monotonic()


def cut_event(seq: int, record: InteractionRecord, token: str) -> tuple[int, str]:
    """The event that ends a streamed hop early: requires_continuation + token."""
    interaction = {
        "id": record.id,
        "object": "interaction",
        "status": "requires_continuation",
        "continuation_token": token,
    }
    if record.model:
        interaction["model"] = record.model
    payload = {
        "event_type": "interaction.completed",
        "event_id": str(seq),
        "interaction": interaction,
    }
    return seq, jsonutil.dumps(payload)
