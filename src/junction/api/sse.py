"""Server-Sent Events rendering (REFERENCE 6.1): ``event:``, ``id:`` and ``data:`` lines,
blank-line separated, with comment keep-alives while nothing happens."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

from junction import jsonutil

KEEPALIVE_SECONDS = 15.0


_PREFIX = '{"event_type":"'


def frame(seq: int, data: str) -> bytes:
    if data.startswith(_PREFIX):
        event_type = data[len(_PREFIX) : data.index('"', len(_PREFIX))]
    else:
        event_type = jsonutil.loads(data).get("event_type", "message")
    return f"event: {event_type}\nid: {seq}\ndata: {data}\n\n".encode()


async def _with_keepalive(
    events: AsyncIterator[tuple[int, str]], every: float
) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=256)

    async def pump() -> None:
        try:
            async for seq, data in events:
                await queue.put(frame(seq, data))
        finally:
            await queue.put(None)

    task = asyncio.get_running_loop().create_task(pump())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), every)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if item is None:
                break
            yield item
        await task  # surface a producer error
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def event_stream(
    events: AsyncIterator[tuple[int, str]], keepalive: float = KEEPALIVE_SECONDS
) -> StreamingResponse:
    return StreamingResponse(
        _with_keepalive(events, keepalive),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
