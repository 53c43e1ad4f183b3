"""Run a real Junction server (uvicorn, real HTTP on loopback) in a background thread,
for tests and benchmarks that drive it with the official SDK."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from junction.api.app import create_app
from junction.api.http_server import server_config
from junction.config import Settings


class JunctionThread:
    def __init__(
        self, settings: Settings, *, loop: str = "asyncio", span_exporter: Any = None
    ) -> None:
        self.settings = settings
        self.app = create_app(settings, span_exporter=span_exporter)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        config = server_config(
            self.app,
            settings,
            log_level="warning",
            access_log=False,
            loop=loop,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        self.server.run(sockets=[self._sock])

    def start(self) -> JunctionThread:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("Junction did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(15)

    @property
    def state(self) -> Any:
        return self.app.state
