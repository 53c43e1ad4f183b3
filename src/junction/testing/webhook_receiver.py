"""A webhook receiver on 127.0.0.1 for tests and benchmarks: records every delivery
(raw body, headers, arrival time) and answers with a scriptable status code."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from junction.testing.fakeserver import FakeProviderServer


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    received: float  # time.time()
    status: int


class WebhookReceiver(FakeProviderServer):
    def __init__(self) -> None:
        super().__init__()
        self.status = 200
        #: per path: statuses answered before falling back to ``status``
        self.script: dict[str, list[int]] = {}
        #: per path: seconds to wait before answering (a hung receiver)
        self.delays: dict[str, float] = {}
        #: paths answered 200 with a body that never ends (streamed until the peer leaves)
        self.endless: set[str] = set()
        #: endless answers the peer stopped reading (the connection was closed under them)
        self.cut: list[str] = []
        self.deliveries: list[Delivery] = []
        self._arrived = threading.Condition()

    def reset_attributes(self) -> dict[str, Any]:
        self.deliveries.clear()
        self.cut.clear()
        return {"status": 200, "script": {}, "delays": {}, "endless": set()}

    def hook(self, name: str = "hook") -> str:
        return f"{self.url}/{name}"

    def fresh(self, stem: str = "hook") -> tuple[str, str]:
        """A path no other test uses: (full URL, path)."""
        path = f"/{stem}-{secrets.token_hex(4)}"
        return f"{self.url}{path}", path

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{name}", self.receive)

    async def receive(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        queued = self.script.get(request.path)
        status = queued.pop(0) if queued else self.status
        with self._arrived:
            self.deliveries.append(
                Delivery(request.path, dict(request.headers), body, time.time(), status)
            )
            self._arrived.notify_all()
        waited = 0.0
        while waited < self.delays.get(request.path, 0.0):  # lowering it releases waiters
            await asyncio.sleep(0.05)
            waited += 0.05
        if request.path in self.endless:
            return await self._endless(request)
        if 300 <= status < 400:
            return web.Response(status=status, headers={"Location": f"{self.url}/elsewhere"})
        return web.Response(status=status, text="ok" if status < 300 else "nope")

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"content-type": "text/plain"})
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            while True:
                await response.write(chunk)
        except ConnectionError:
            self._was_cut(request.path)
            return response
        except asyncio.CancelledError:
            self._was_cut(request.path)
            raise

    def _was_cut(self, path: str) -> None:
        with self._arrived:
            self.cut.append(path)
            self._arrived.notify_all()

    def received(self, path: str | None = None, *, ok: bool = False) -> list[Delivery]:
        return [
            d
            for d in list(self.deliveries)
            if (path is None or d.path == path) and (not ok or 200 <= d.status < 300)
        ]

    def wait(
        self, count: int, path: str | None = None, *, ok: bool = False, timeout: float = 30
    ) -> list[Delivery]:
        """Block until ``count`` deliveries (to ``path``; acknowledged ones with ``ok``)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.received(path, ok=ok)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    got = len(self.received(path, ok=ok))
                    raise TimeoutError(f"{got} of {count} deliveries arrived at {path or '*'}")
                self._arrived.wait(min(left, 0.5))
        return self.received(path, ok=ok)
