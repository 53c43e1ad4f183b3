"""OpenAI's Responses API on the fake OpenAI server: ``POST /v1/responses``, answering
with a ``response`` object or its SSE event stream (``response.created`` …
``response.completed``), as api.openai.com does for reasoning models.

A :class:`Reply`'s ``thought`` becomes a ``reasoning`` item whose summary streams as
``response.reasoning_summary_text.delta`` events (when the request asks for a summary);
its text a ``message`` item; its tool calls ``function_call`` items. ``finish="length"``
ends the response ``incomplete`` (``max_output_tokens``).
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from junction.testing.fakeserver import Reply

if TYPE_CHECKING:
    from junction.testing.fake_openai import FakeOpenAI


def _pieces(text: str, count: int) -> list[str]:
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)]


class FakeOpenAIResponses:
    def __init__(self, server: FakeOpenAI) -> None:
        self.server = server
        self._ids = itertools.count(1)

    async def create(self, request: web.Request) -> web.StreamResponse:
        server = self.server
        body = await server.recorded(request)
        reply = server.next_reply(body)
        if reply.status >= 400:
            kind = "invalid_request_error" if reply.status < 500 else "server_error"
            return server.error_response(
                reply, {"error": {"message": reply.error_message, "type": kind, "code": None}}
            )
        body = body if isinstance(body, dict) else {}
        n = next(self._ids)
        summary = bool((body.get("reasoning") or {}).get("summary"))
        events = self.events(reply, body, n, summary)
        if body.get("stream"):
            frames = [(e["type"], orjson.dumps(e).decode()) for e in events]
            return await server.sse(request, frames, reply)
        return web.Response(
            body=orjson.dumps(events[-1]["response"]), content_type="application/json"
        )

    def usage(self, reply: Reply) -> dict[str, Any]:
        reasoning = len(reply.thought.split()) if reply.thought else 0
        return {
            "input_tokens": reply.input_tokens,
            "input_tokens_details": {
                "cached_tokens": self.server.cached_tokens,
                "cache_write_tokens": 0,
            },
            "output_tokens": reply.output_tokens + reasoning,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": reply.input_tokens + reply.output_tokens + reasoning,
        }

    def response(self, body: dict[str, Any], n: int, status: str) -> dict[str, Any]:
        return {
            "id": f"resp_fake{n:08d}",
            "object": "response",
            "created_at": int(time.time()),
            "model": str(body.get("model") or "fake-model"),
            "status": status,
            "output": [],
            "parallel_tool_calls": True,
            "tool_choice": body.get("tool_choice") or "auto",
            "tools": body.get("tools") or [],
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "metadata": {},
            "service_tier": body.get("service_tier") or "default",
        }

    def events(
        self, reply: Reply, body: dict[str, Any], n: int, summary: bool
    ) -> list[dict[str, Any]]:
        seq = itertools.count()
        out: list[dict[str, Any]] = []
        items: list[dict[str, Any]] = []

        def emit(kind: str, **fields: Any) -> None:
            out.append({"type": kind, "sequence_number": next(seq), **fields})

        emit("response.created", response=self.response(body, n, "in_progress"))
        if reply.thought is not None:
            index, item_id = len(items), f"rs_{n:06d}"
            shell = {"id": item_id, "type": "reasoning", "summary": []}
            emit("response.output_item.added", output_index=index, item=shell)
            parts = []
            if summary:
                where = {"item_id": item_id, "output_index": index, "summary_index": 0}
                start = {"type": "summary_text", "text": ""}
                emit("response.reasoning_summary_part.added", **where, part=start)
                for piece in _pieces(reply.thought, 3):
                    emit("response.reasoning_summary_text.delta", **where, delta=piece)
                emit("response.reasoning_summary_text.done", **where, text=reply.thought)
                done = {"type": "summary_text", "text": reply.thought}
                emit("response.reasoning_summary_part.done", **where, part=done)
                parts = [done]
            item = {**shell, "summary": parts}
            emit("response.output_item.done", output_index=index, item=item)
            items.append(item)
        if reply.text:
            index, item_id = len(items), f"msg_{n:06d}"
            shell = {
                "id": item_id,
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
            emit("response.output_item.added", output_index=index, item=shell)
            where = {"item_id": item_id, "output_index": index, "content_index": 0}
            empty: dict[str, Any] = {"type": "output_text", "text": "", "annotations": []}
            emit("response.content_part.added", **where, part=empty)
            for piece in _pieces(reply.text, 3):
                emit("response.output_text.delta", **where, delta=piece, logprobs=[])
            emit("response.output_text.done", **where, text=reply.text, logprobs=[])
            part: dict[str, Any] = {"type": "output_text", "text": reply.text, "annotations": []}
            emit("response.content_part.done", **where, part=part)
            item = {**shell, "status": "completed", "content": [part]}
            emit("response.output_item.done", output_index=index, item=item)
            items.append(item)
        for i, (name, args) in enumerate(reply.tool_calls):
            index, item_id = len(items), f"fc_{n:06d}{i:02d}"
            call = {
                "id": item_id,
                "type": "function_call",
                "call_id": f"call_{n:06d}{i:02d}",
                "name": name,
                "arguments": "",
                "status": "in_progress",
            }
            emit("response.output_item.added", output_index=index, item=call)
            encoded = orjson.dumps(args).decode()
            for piece in _pieces(encoded, 2):
                emit(
                    "response.function_call_arguments.delta",
                    item_id=item_id,
                    output_index=index,
                    delta=piece,
                )
            emit(
                "response.function_call_arguments.done",
                item_id=item_id,
                output_index=index,
                arguments=encoded,
            )
            item = {**call, "arguments": encoded, "status": "completed"}
            emit("response.output_item.done", output_index=index, item=item)
            items.append(item)
        incomplete = reply.finish == "length"
        final = self.response(body, n, "incomplete" if incomplete else "completed")
        final.update(output=items, usage=self.usage(reply))
        if incomplete:
            final["incomplete_details"] = {"reason": "max_output_tokens"}
        emit("response.incomplete" if incomplete else "response.completed", response=final)
        return out
