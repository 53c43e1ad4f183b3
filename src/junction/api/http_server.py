"""The HTTP server: uvicorn with its httptools (llhttp) protocol, plus the connection
limits uvicorn lacks. Parsing stays with llhttp; this module only counts and times.

* **Header size.** Bytes from a request's first byte to the end of its headers are
  counted as they are fed to the parser; past ``http_max_header_bytes`` the client gets
  ``431`` and the connection is closed (it cannot be resynchronised). The parser never
  holds more than the limit (a pipelined request that arrived in the same read as the
  end of the one before it is counted from the next read).
* **Header timeout.** A connection must deliver a request's complete headers within
  ``http_header_timeout`` seconds of opening (or of the request's first byte on a
  kept-alive connection), else ``408`` and close: a slowloris client frees its socket.
* **Body timeout.** While the application waits for body bytes, the client may stay
  silent at most ``http_body_timeout`` seconds (the timer does not run while the
  application itself is not reading), else ``408`` (if nothing was answered yet) and
  close.
* **Connections.** At most ``http_max_connections`` open connections in all and
  ``http_max_connections_per_client`` from one client address (the peer of the TCP
  connection: behind a reverse proxy, that is the proxy). A connection over a cap is
  answered ``503``/``429`` and closed at once, so it holds no file descriptor.

Replies made here use the SDK's error shape, like every other error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from junction import jsonutil
from junction.config import Settings

_REASONS = {
    408: b"Request Timeout",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}
_CODES = {
    408: "request_timeout",
    429: "resource_exhausted",
    431: "request_header_fields_too_large",
    503: "unavailable",
}


@dataclass(frozen=True)
class HttpLimits:
    max_header_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1024
    max_connections_per_client: int = 128

    @classmethod
    def of(cls, settings: Settings) -> HttpLimits:
        return cls(
            max_header_bytes=settings.http_max_header_bytes,
            header_timeout=settings.http_header_timeout,
            body_timeout=settings.http_body_timeout,
            max_connections=settings.http_max_connections,
            max_connections_per_client=settings.http_max_connections_per_client,
        )


def error_reply(status: int, message: str, *, retry_after: int | None = None) -> bytes:
    """A complete ``Connection: close`` response in the SDK's error shape."""
    code = _CODES[status]
    body = jsonutil.dumpb({"error": {"code": code, "message": message, "status": code.upper()}})
    head = [
        b"HTTP/1.1 %d %s" % (status, _REASONS[status]),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
    ]
    if retry_after is not None:
        head.append(b"retry-after: %d" % retry_after)
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class _OneWriteHead:
    """The transport as one response sees it. uvicorn writes a response's head and its body
    in two ``write`` calls: two system calls, two TCP segments, two wake-ups of the client
    for a small JSON response. The head is held here until the body's first write, which
    carries both; if none comes in the same event-loop turn (a stream waiting for its first
    event), the head leaves on its own at the next turn. Every other call passes through.
    """

    __slots__ = ("_done", "_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._done = False  # the head has been written: later writes go straight through

    def write(self, data: bytes) -> None:
        if self._done or data.startswith(b"HTTP/1.1 100 "):
            self._transport.write(data)
        elif self._held is None:
            self._held = data
            self._loop.call_soon(self._flush)
        else:
            self._done = True
            held, self._held = self._held, None
            self._transport.write(held + data)

    def _flush(self) -> None:
        if self._held is not None and not self._transport.is_closing():
            self._transport.write(self._held)
        self._held = None
        self._done = True

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header/body limits and connection caps."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.limits: HttpLimits = getattr(config, "junction_limits", None) or HttpLimits()
        self._in_headers = True  # bytes fed now belong to a request line or its headers
        self._header_bytes = 0
        self._request_started = False
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # -- connections --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = self.limits
        if limits.max_connections and len(self.connections) > limits.max_connections:
            self._refuse(503, "the server has too many open connections; retry shortly")
            return
        per_client = limits.max_connections_per_client
        if per_client and self.client is not None:
            host = self.client[0]
            count = sum(
                1
                for c in self.connections
                if (peer := getattr(c, "client", None)) is not None and peer[0] == host
            )
            if count > per_client:
                self._refuse(429, f"more than {per_client} open connections from {host}")
                return
        self._arm_header_timer()

    def _refuse(self, status: int, message: str) -> None:
        self.connections.discard(self)
        self.transport.write(error_reply(status, message, retry_after=1))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None

    # -- header size --------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._in_headers and self.parser is not None:
            room = self.limits.max_header_bytes - self._header_bytes
            if len(data) > room:
                head, data = data[: max(room, 0)], data[max(room, 0) :]
                self._header_bytes += len(head)
                if head:
                    super().data_received(head)
                if self.transport.is_closing() or self.parser is None:
                    return
                if self._in_headers:
                    self._close_with(
                        431,
                        f"the request line and headers exceed {self.limits.max_header_bytes} bytes",
                    )
                    return
            else:
                self._header_bytes += len(data)
        super().data_received(data)

    def _close_with(self, status: int, message: str) -> None:
        """Answer ``status`` (unless another response is on the wire) and close."""
        self._cancel_timers()
        cycle = self.cycle
        if self._in_headers:  # a new request: only if nothing is still being answered
            reply = cycle is None or cycle.response_complete
        else:  # this request's body: only if its response has not begun
            reply = cycle is None or not cycle.response_started
        if not self.transport.is_closing():
            if reply:
                self.transport.write(error_reply(status, message))
            self.transport.close()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()

    # -- parser callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_started = True
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._in_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not None and self.cycle is not previous:  # not a websocket upgrade
            self.cycle.transport = _OneWriteHead(self.transport, self.loop)  # type: ignore[assignment]
        self._arm_body_timer()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm_body_timer()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._in_headers = True
        self._header_bytes = 0
        self._request_started = False

    # -- timers -------------------------------------------------------------------------
    def _arm_header_timer(self) -> None:
        if self._header_timer is None and self.limits.header_timeout > 0:
            self._header_timer = self.loop.call_later(
                self.limits.header_timeout, self._header_timed_out
            )

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self._request_started:
            self._close_with(
                408, f"the request headers did not arrive within {self.limits.header_timeout} s"
            )
        else:
            self.transport.close()

    def _arm_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        if self.limits.body_timeout > 0 and not self.transport.is_closing():
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_idle)

    def _body_idle(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self._in_headers:
            return
        if self.flow.read_paused:
            # The application is not reading: not the client's fault. Look again later.
            self._arm_body_timer()
            return
        self._close_with(408, f"no request body bytes arrived for {self.limits.body_timeout} s")


def server_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration every Junction server uses (CLI and tests)."""
    config = uvicorn.Config(
        app,
        http=LimitedHttpProtocol,
        timeout_keep_alive=settings.http_keepalive_timeout,  # type: ignore[arg-type]
        **options,
    )
    config.junction_limits = HttpLimits.of(settings)  # type: ignore[attr-defined]
    return config
