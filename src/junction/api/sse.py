"""Server-Sent Events rendering (REFERENCE 6.1): ``event:``, ``id:`` and ``data:`` lines,
blank-line separated, with comment keep-alives while nothing happens."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from junction import jsonutil

KEEPALIVE_SECONDS = 15.0


_PREFIX = '{"event_type":"'


def frame(seq: int, data: str) -> bytes:
    if data.startswith(_PREFIX):
        event_type = data[len(_PREFIX) : data.index('"', len(_PREFIX))]
    else:
        event_type = jsonutil.loads(data).get("event_type", "message")
    return f"event: {event_type}\nid: {seq}\ndata: {data}\n\n".encode()


class EventStreamResponse(Response):
    """An SSE response that holds as little per open stream as it can: two tasks (the
    next event; the client's disconnect) and the producer's generator. Starlette's
    StreamingResponse, fed through a queue by a pump task with a ``wait_for`` per
    keep-alive period, held four tasks, a task group and a queue per stream; with
    thousands of idle followers that was most of their memory. The response is sent as
    events come (``send`` waits while the client's socket is full), with a comment line
    after ``keepalive`` seconds without one; it ends when the events end, or the client
    goes away (the producer is then closed)."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[tuple[int, str]], keepalive: float) -> None:
        self.events = events
        self.keepalive = keepalive
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        events = self.events
        nxt: asyncio.Future[tuple[int, str]] = asyncio.ensure_future(anext(events))
        gone: asyncio.Future[Message] = asyncio.ensure_future(receive())
        try:
            while True:
                done, _ = await asyncio.wait(
                    (nxt, gone), timeout=self.keepalive, return_when=asyncio.FIRST_COMPLETED
                )
                if gone in done:
                    if gone.result()["type"] == "http.disconnect":
                        return
                    gone = asyncio.ensure_future(receive())  # a stray body message
                if nxt not in done:
                    if not done:
                        await send(
                            {"type": "http.response.body", "body": KEEPALIVE, "more_body": True}
                        )
                    continue
                try:
                    seq, data = nxt.result()
                except StopAsyncIteration:
                    break
                await send(
                    {"type": "http.response.body", "body": frame(seq, data), "more_body": True}
                )
                nxt = asyncio.ensure_future(anext(events))
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            for task in (nxt, gone):
                task.cancel()
            await asyncio.wait((nxt, gone))
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()


KEEPALIVE = b": keep-alive\n\n"


def event_stream(
    events: AsyncIterator[tuple[int, str]], keepalive: float = KEEPALIVE_SECONDS
) -> Response:
    return EventStreamResponse(events, keepalive)
