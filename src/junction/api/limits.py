"""Request body caps per route, enforced while the body streams in.

File uploads (``/upload/…``) may carry up to ``http_max_upload_bytes`` per request and
are read in chunks; every other route takes JSON, up to ``http_max_json_bytes``. A body
announced larger (``Content-Length``) is refused before a byte of it is read; a chunked
body is counted as it arrives and refused the moment it passes the cap, so no more than
the cap is ever held. The reply is ``413`` in the SDK's error shape. The connection stays
usable for the next request when the unread rest is small enough to skip (at most
``DRAIN_BYTES``); otherwise the reply says ``Connection: close``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from junction import jsonutil
from junction.errors import PayloadTooLarge

#: unread body bytes the server still reads and discards to keep a connection alive
DRAIN_BYTES = 1024 * 1024


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodyLimit:
    def __init__(self, app: ASGIApp, *, json_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.json_bytes = json_bytes
        self.upload_bytes = upload_bytes

    def limit_for(self, path: str) -> tuple[int, str]:
        if path.startswith("/upload/"):
            return self.upload_bytes, "http_max_upload_bytes"
        return self.json_bytes, "http_max_json_bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.limit_for(scope["path"])
        if not limit:
            await self.app(scope, receive, send)
            return
        message = f"the request body is larger than {limit} bytes, this route's limit ({setting})"
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(send, message, close=declared > DRAIN_BYTES)
            return
        received = 0
        overflowed = False

        async def counted_receive() -> Message:
            nonlocal received, overflowed
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > limit:
                    overflowed = True
                    raise PayloadTooLarge(message)
            return msg

        async def closing_send(msg: Message) -> None:
            if overflowed and msg["type"] == "http.response.start":
                msg = {**msg, "headers": [*msg.get("headers", []), (b"connection", b"close")]}
            await send(msg)

        await self.app(scope, counted_receive, closing_send)

    @staticmethod
    async def _refuse(send: Send, message: str, *, close: bool) -> None:
        body = jsonutil.dumpb(PayloadTooLarge(message).to_wire())
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
