"""Server-Sent Events rendering (REFERENCE 6.1): ``event:``, ``id:`` and ``data:`` lines,
blank-line separated, with comment keep-alives while nothing happens."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from junction import jsonutil

KEEPALIVE_SECONDS = 15.0
DETACH = "junction.sse"  # scope key: DetachStreams leaves None there, a response itself
_ABSENT = object()
_RUNNING, _ENDED, _GONE = 0, 1, 2


_PREFIX = '{"event_type":"'


def frame(seq: int, data: str) -> bytes:
    if data.startswith(_PREFIX):
        event_type = data[len(_PREFIX) : data.index('"', len(_PREFIX))]
    else:
        event_type = jsonutil.loads(data).get("event_type", "message")
    return f"event: {event_type}\nid: {seq}\ndata: {data}\n\n".encode()


class EventStreamResponse(Response):
    """An SSE response that holds as little per open stream as it can: the request's own
    task runs the producer's generator and sends its events, and one small watcher task
    waits for the client's disconnect and sends a comment line after ``keepalive``
    seconds without an event. A disconnect cancels the request's task where it waits
    (in the producer, or in ``send``); the producer is then closed. Under
    :class:`DetachStreams` the response streams after the middleware and routing frames
    below it have returned, so an idle stream does not keep them alive."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[tuple[int, str]], keepalive: float) -> None:
        self.events = events
        self.keepalive = keepalive
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._last = 0.0  # loop time of the last body sent
        self._sending = False
        self._state = _RUNNING

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get(DETACH, _ABSENT) is None:
            scope[DETACH] = self  # DetachStreams streams it once the stack has returned
            return
        await self.stream(receive, send)

    async def stream(self, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        events = self.events
        task = asyncio.current_task()
        assert task is not None
        self._last = asyncio.get_running_loop().time()
        watcher = asyncio.ensure_future(self._watch(task, receive, send))
        try:
            async for seq, data in events:
                await self._send(send, frame(seq, data))
            self._state = _ENDED
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if self._state != _GONE or task.uncancel():
                raise  # cancelled from elsewhere too (the server stopping)
        finally:
            if self._state == _RUNNING:
                self._state = _ENDED
            watcher.cancel()
            await asyncio.wait((watcher,))
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    async def _send(self, send: Send, body: bytes) -> None:
        self._sending = True
        try:
            await send({"type": "http.response.body", "body": body, "more_body": True})
        finally:
            self._sending = False
            self._last = asyncio.get_running_loop().time()

    async def _watch(self, task: asyncio.Task[Any], receive: Receive, send: Send) -> None:
        """Wait for the client's disconnect (cancelling ``task``) and keep the stream
        alive while the producer is quiet."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    async with asyncio.timeout_at(self._last + self.keepalive):
                        message = await receive()
                except TimeoutError:
                    if not self._sending and loop.time() >= self._last + self.keepalive:
                        await self._send(send, KEEPALIVE)
                    continue
                if message["type"] == "http.disconnect":
                    break
        except Exception:
            pass  # a failed keep-alive: the client is gone
        if self._state == _RUNNING:
            self._state = _GONE
            task.cancel()


KEEPALIVE = b": keep-alive\n\n"


def event_stream(
    events: AsyncIterator[tuple[int, str]], keepalive: float = KEEPALIVE_SECONDS
) -> Response:
    return EventStreamResponse(events, keepalive)


class DetachStreams:
    """Runs an SSE response after the app below has returned. The routing and the
    middleware below this one (exception handling, the body limit, the route's request
    wrapper) finish when the handler returns the response; an idle stream then keeps
    only the frames above this one, not theirs, for its whole life. Anything else passes
    through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[DETACH] = None
        await self.app(scope, receive, send)
        response = scope.pop(DETACH, None)
        if isinstance(response, EventStreamResponse):
            await response.stream(receive, send)
