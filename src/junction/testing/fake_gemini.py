"""A fake Gemini API (generativelanguage REST dialect) for tests and benchmarks.

Routes ``POST /{version}/models/{model}:generateContent`` (one JSON body) and
``POST /{version}/models/{model}:streamGenerateContent`` (``?alt=sse``: one
``GenerateContentResponse`` JSON per ``data:`` line; without it, a JSON array, as the
real API does). Payloads use the REST field names (camelCase).

A :class:`Reply` renders as: a thought part ``{"text", "thought": true}`` first (carrying
``thoughtSignature`` when the reply has one), the text split into 2–3 chunks, function
calls as ``functionCall`` parts, and a last chunk with ``finishReason`` and
``usageMetadata``. A signature without thought text goes on the first answer part.
``thought_signature`` is sent as given when it is base64, else base64-encoded.
"""

from __future__ import annotations

import asyncio
import binascii
from base64 import b64decode, b64encode
from typing import Any

import orjson
from aiohttp import web

from junction.testing.fakeserver import FakeProviderServer, Reply

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_FINISH = {
    "stop": "STOP",
    "tool_calls": "STOP",  # Gemini ends a function-calling turn with STOP
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
    "other": "OTHER",
}


def wire_signature(signature: str) -> str:
    try:
        b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return b64encode(signature.encode()).decode("ascii")
    return signature


def split_text(text: str) -> list[str]:
    """Two or three pieces (one when the text is too short to split)."""
    if len(text) < 2:
        return [text] if text else []
    count = 3 if len(text) >= 3 else 2
    step = -(-len(text) // count)
    return [text[i : i + step] for i in range(0, len(text), step)]


class FakeGemini(FakeProviderServer):
    """Fake ``generativelanguage.googleapis.com``. ``thought_tokens`` and ``cached_tokens``
    add ``thoughtsTokenCount`` / ``cachedContentTokenCount`` to the usage when non-zero;
    ``require_key`` answers 403 to requests without ``x-goog-api-key`` (or ``?key=``)."""

    def __init__(self) -> None:
        super().__init__()
        self.thought_tokens = 0
        self.cached_tokens = 0
        self.require_key = True
        self.model_version = "fake-gemini-001"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{version}/models/{model:[^/:]+}:generateContent", self._generate)
        app.router.add_post("/{version}/models/{model:[^/:]+}:streamGenerateContent", self._stream)

    # -- rendering ---------------------------------------------------------------------
    def _usage(self, reply: Reply) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "promptTokenCount": reply.input_tokens,
            "candidatesTokenCount": reply.output_tokens,
            "totalTokenCount": reply.input_tokens + reply.output_tokens + self.thought_tokens,
        }
        if self.thought_tokens:
            usage["thoughtsTokenCount"] = self.thought_tokens
        if self.cached_tokens:
            usage["cachedContentTokenCount"] = self.cached_tokens
        return usage

    def chunks(self, reply: Reply, *, stream: bool, logprobs: bool = False) -> list[dict[str, Any]]:
        """The response bodies for ``reply``: several chunks, or one when not streaming."""
        signature = wire_signature(reply.thought_signature) if reply.thought_signature else None
        groups: list[list[dict[str, Any]]] = []
        if reply.thought is not None:
            part: dict[str, Any] = {"text": reply.thought, "thought": True}
            if signature:
                part["thoughtSignature"], signature = signature, None
            groups.append([part])
        pieces = split_text(reply.text) if stream else [reply.text] if reply.text else []
        groups.extend([{"text": piece}] for piece in pieces)
        calls = [
            {"functionCall": {"id": f"fc_{index}_{name}", "name": name, "args": args}}
            for index, (name, args) in enumerate(reply.tool_calls)
        ]
        if calls:
            groups.append(calls)
        groups.extend(
            [{"inlineData": {"mimeType": mime, "data": b64encode(data).decode("ascii")}}]
            for mime, data in reply.media
        )
        if signature:
            answer = next((g for g in groups if "thought" not in g[0]), None)
            if answer is None:
                answer = [{"text": ""}]
                groups.append(answer)
            answer[0]["thoughtSignature"] = signature
        if not stream:
            groups = [[part for group in groups for part in group]]
        if not groups:
            groups = [[{"text": ""}]]
        bodies: list[dict[str, Any]] = [
            {
                "candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}],
                "modelVersion": self.model_version,
                "responseId": "fake-response",
            }
            for parts in groups
        ]
        last = bodies[-1]
        last["candidates"][0]["finishReason"] = _FINISH.get(reply.finish, "OTHER")
        if reply.logprobs is not None and logprobs:
            top = [
                {"token": token, "logProbability": lp}
                for token, lp in sorted(reply.logprobs.items(), key=lambda kv: -kv[1])
            ]
            bodies[0]["candidates"][0]["logprobsResult"] = {
                "topCandidates": [{"candidates": top}],
                "chosenCandidates": top[:1],
            }
        last["usageMetadata"] = self._usage(reply)
        return bodies

    @staticmethod
    def error_body(reply: Reply) -> dict[str, Any]:
        status = _STATUS.get(reply.status, "INTERNAL" if reply.status >= 500 else "UNKNOWN")
        return {"error": {"code": reply.status, "message": reply.error_message, "status": status}}

    def _wants_logprobs(self, request: web.Request) -> bool:
        body = request.get("body")
        config = body.get("generationConfig") if isinstance(body, dict) else None
        return bool(isinstance(config, dict) and config.get("responseLogprobs"))

    # -- handlers ----------------------------------------------------------------------
    async def _begin(self, request: web.Request) -> Reply | web.Response:
        request["body"] = await self.recorded(request)
        if self.require_key and not (
            request.headers.get("x-goog-api-key") or request.query.get("key")
        ):
            denied = Reply(status=403, error_message="Method doesn't allow unregistered callers")
            return self.error_response(denied, self.error_body(denied))
        reply = self.next_reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status >= 400:
            return self.error_response(reply, self.error_body(reply))
        return reply

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        reply = await self._begin(request)
        if isinstance(reply, web.Response):
            return reply
        body = self.chunks(reply, stream=False, logprobs=self._wants_logprobs(request))[0]
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        reply = await self._begin(request)
        if isinstance(reply, web.Response):
            return reply
        bodies = self.chunks(reply, stream=True, logprobs=self._wants_logprobs(request))
        if request.query.get("alt") == "sse":
            events: list[tuple[str | None, str]] = [
                (None, orjson.dumps(body).decode()) for body in bodies
            ]
            return await self.sse(request, events, reply)
        return web.Response(body=orjson.dumps(bodies), content_type="application/json")
