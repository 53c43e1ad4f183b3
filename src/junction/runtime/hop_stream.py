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
    the number of the run's steps delivered (``-1``: none of its own yet) and stop."""
    iterator = aiter(events)
    open_step = False
    stopped = -1
    pending: asyncio.Future[tuple[int, str]] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            left = started + after - time.monotonic()
            if left <= 0 and not open_step:
                yield stopped
                return
            done, _ = await asyncio.wait({pending}, timeout=left if left > 0 else None)
            if not done:
                continue
            task, pending = pending, None
            try:
                seq, data = task.result()
            except StopAsyncIteration:
                return
            kind = data[15 : data.index('"', 15)] if data.startswith('{"event_type":"') else ""
            if kind == "step.start":
                open_step = True
            elif kind == "step.stop":
                open_step = False
                stopped = int(jsonutil.loads(data)["index"]) + 1
            yield seq, data
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()


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
