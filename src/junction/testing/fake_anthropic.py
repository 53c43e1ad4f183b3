"""A fake Anthropic Messages API (``POST /v1/messages``) speaking the real wire format:
a ``Message`` JSON body, or the server-sent event sequence (``message_start``, ``ping``,
``content_block_start`` / ``content_block_delta`` / ``content_block_stop`` per block,
``message_delta``, ``message_stop``), and Anthropic's error bodies.

A :class:`Reply` with ``thought`` becomes a signed thinking block; ``tool_calls`` become
``tool_use`` blocks whose input is streamed in several ``input_json_delta`` fragments.
:class:`AnthropicReply` adds a cache-read token count and a mid-stream ``error`` event.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from junction.testing.fakeserver import FakeProviderServer, Reply

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_ids = itertools.count(1)


@dataclass
class AnthropicReply(Reply):
    cache_read_input_tokens: int = 0
    # An Anthropic error type (e.g. "overloaded_error") sent as an in-stream ``error``
    # event after the first text delta, on a 200 response.
    stream_error: str | None = None


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def pieces(text: str, count: int = 3) -> list[str]:
    """``text`` cut into up to ``count`` non-empty pieces."""
    if not text:
        return []
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _signature(reply: Reply) -> str:
    if reply.thought_signature:
        return reply.thought_signature
    return "fakesig" + hashlib.sha256((reply.thought or "").encode()).hexdigest()[:24]


def _stop_reason(reply: Reply) -> str:
    if reply.tool_calls and reply.finish == "stop":
        return "tool_use"
    return STOP_REASONS.get(reply.finish, reply.finish)


def _tool_id() -> str:
    return f"toolu_fake{next(_ids):08d}"


def message(reply: Reply, model: str) -> dict[str, Any]:
    """The non-streamed ``Message`` for ``reply``."""
    content: list[dict[str, Any]] = []
    if reply.thought is not None:
        content.append(
            {"type": "thinking", "thinking": reply.thought, "signature": _signature(reply)}
        )
    if reply.text or not reply.tool_calls:
        content.append({"type": "text", "text": reply.text})
    for name, args in reply.tool_calls:
        content.append({"type": "tool_use", "id": _tool_id(), "name": name, "input": args})
    return {
        "id": f"msg_fake{next(_ids):08d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _stop_reason(reply),
        "stop_sequence": None,
        "usage": _usage(reply, reply.output_tokens),
    }


def _usage(reply: Reply, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": reply.input_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": getattr(reply, "cache_read_input_tokens", 0),
        "cache_creation_input_tokens": 0,
    }


def _event(name: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    return name, {"type": name, **fields}


def stream_events(reply: Reply, model: str) -> list[tuple[str, dict[str, Any]]]:
    """The SSE events (name, payload) for ``reply``."""
    start = message(reply, model)
    start.update(content=[], stop_reason=None, usage=_usage(reply, 1))
    events = [_event("message_start", message=start), _event("ping")]
    index = 0

    def block(first: dict[str, Any], deltas: list[dict[str, Any]], stop: bool = True) -> None:
        nonlocal index
        events.append(_event("content_block_start", index=index, content_block=first))
        events.extend(_event("content_block_delta", index=index, delta=d) for d in deltas)
        if stop:
            events.append(_event("content_block_stop", index=index))
        index += 1

    if reply.thought is not None:
        deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(reply.thought)]
        deltas.append({"type": "signature_delta", "signature": _signature(reply)})
        block({"type": "thinking", "thinking": "", "signature": ""}, deltas)
    stream_error = getattr(reply, "stream_error", None)
    if stream_error:
        partial = pieces(reply.text or "partial")[0]
        block({"type": "text", "text": ""}, [{"type": "text_delta", "text": partial}], stop=False)
        events.append(_event("error", error=error_body(stream_error, reply.error_message)["error"]))
        return events
    if reply.text or not reply.tool_calls:
        texts = [{"type": "text_delta", "text": p} for p in pieces(reply.text)]
        block({"type": "text", "text": ""}, texts)
    for name, args in reply.tool_calls:
        encoded = orjson.dumps(args).decode()
        fragments = ["", *pieces(encoded, max(2, min(4, len(encoded))))]
        tool = {"type": "tool_use", "id": _tool_id(), "name": name, "input": {}}
        block(tool, [{"type": "input_json_delta", "partial_json": f} for f in fragments])
    delta = {"stop_reason": _stop_reason(reply), "stop_sequence": None}
    events.append(
        _event("message_delta", delta=delta, usage={"output_tokens": reply.output_tokens})
    )
    events.append(_event("message_stop"))
    return events


class FakeAnthropic(FakeProviderServer):
    """Fake ``api.anthropic.com``. Set ``api_key`` to make it check ``x-api-key`` (or a
    bearer token, which newer SDKs send)."""

    def __init__(self, api_key: str | None = None) -> None:
        super().__init__()
        self.api_key = api_key

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await self.recorded(request)
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        key = request.headers.get("x-api-key") or bearer
        if self.api_key is not None and key != self.api_key:
            return web.json_response(
                error_body("authentication_error", "invalid x-api-key"), status=401
            )
        reply = self.next_reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status >= 400:
            return self.error_response(
                reply, error_body(error_type(reply.status), reply.error_message)
            )
        if not isinstance(body, dict) or not body.get("model") or not body.get("max_tokens"):
            return web.json_response(
                error_body("invalid_request_error", "model and max_tokens are required"),
                status=400,
            )
        model = str(body["model"])
        if body.get("stream"):
            events: list[tuple[str | None, str]] = [
                (name, orjson.dumps(data).decode()) for name, data in stream_events(reply, model)
            ]
            return await self.sse(request, events, reply)
        stream_error = getattr(reply, "stream_error", None)
        if stream_error:
            status = next((s for s, k in ERROR_TYPES.items() if k == stream_error), 500)
            return web.json_response(error_body(stream_error, reply.error_message), status=status)
        return web.Response(
            body=orjson.dumps(message(reply, model)), content_type="application/json"
        )
