"""A scriptable fake provider server, run on 127.0.0.1 in its own thread and event loop,
so synchronous tests, async tests and benchmark processes can all drive it.

A test queues :class:`Reply` scripts; each incoming model call takes the next one (or
``default`` when the queue is empty) and the dialect subclass renders it in the
provider's wire format, streaming or not. Every request is recorded in ``requests``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web


@dataclass
class Reply:
    text: str = "ok"
    thought: str | None = None
    thought_signature: str | None = None
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = "fake provider error"
    delay: float = 0.0  # seconds before the response starts
    chunk_delay: float = 0.0  # seconds between streamed chunks
    input_tokens: int = 11
    output_tokens: int = 7
    finish: str = "stop"
    #: generated media parts (MIME type, bytes), for dialects that return them inline
    media: list[tuple[str, bytes]] = field(default_factory=list)
    #: top log-probabilities of the first answer token (token → logprob), returned when
    #: the request asks for logprobs (dialects that have them)
    logprobs: dict[str, float] | None = None


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    received: float


class FakeProviderServer:
    """Base class: subclasses add routes in :meth:`routes` that call :meth:`next_reply`."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.default = Reply()
        #: optional: choose the reply from the request body (None falls back to the queue)
        self.responder: Callable[[Any], Reply | None] | None = None
        self.requests: list[Recorded] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self.record = True

    # -- scripting -------------------------------------------------------------------
    def enqueue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def next_reply(self, body: Any = None) -> Reply:
        if self.responder is not None:
            reply = self.responder(body)
            if reply is not None:
                return reply
        return self.replies.popleft() if self.replies else self.default

    def reset(self) -> None:
        self.replies.clear()
        self.requests.clear()
        self.default = Reply()
        self.responder = None
        for name, value in self.reset_attributes().items():
            setattr(self, name, value)

    def reset_attributes(self) -> dict[str, Any]:
        """Per-dialect knobs restored by :meth:`reset`."""
        return {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def recorded(self, request: web.Request) -> Any:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                import orjson

                body = orjson.loads(raw)
            except ValueError:
                body = raw
        if self.record:
            self.requests.append(
                Recorded(
                    request.method,
                    request.path,
                    dict(request.query),
                    dict(request.headers),
                    body,
                    time.monotonic(),
                )
            )
        return body

    # -- lifecycle -------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def start(self, port: int = 0) -> Self:
        self._thread = threading.Thread(target=self._serve, args=(port,), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake provider server did not start")
        return self

    def _serve(self, port: int) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.routes(app)
        # a stopped fake does not wait for handlers still running (a test's deliberately
        # slow page, a client that gave up): they are cancelled after a short grace
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", port, backlog=1024)
        loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for dialects ---------------------------------------------------------
    @staticmethod
    def error_response(reply: Reply, body: dict[str, Any]) -> web.Response:
        return web.json_response(body, status=reply.status, headers=reply.headers)

    @staticmethod
    async def sse(
        request: web.Request, events: list[tuple[str | None, str]], reply: Reply
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for name, data in events:
            chunk = (f"event: {name}\n" if name else "") + f"data: {data}\n\n"
            await response.write(chunk.encode())
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
        await response.write_eof()
        return response
