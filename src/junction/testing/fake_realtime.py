"""Fake realtime APIs over WebSocket on loopback: OpenAI Realtime (``GET /v1/realtime``)
and Gemini Live (``GET /ws/…BidiGenerateContent``), for tests.

Each connection takes the next :class:`Reply` when the client asks for an answer
(OpenAI: ``response.create``; Gemini: ``clientContent`` with ``turnComplete``,
``realtimeInput.activityEnd`` or ``toolResponse``). A reply speaks ``reply.text`` as its
transcript and ``reply.media`` audio (16-bit 24 kHz PCM; a tone of the text when none is
given) in three interleaved pieces, then its ``tool_calls``, then the end with usage; a
reply with an error ``status`` is an ``error`` event (OpenAI) or a close with that reason
(Gemini: 1007 for 4xx, 1011 for 5xx).
Every connection is recorded as one :class:`Connection`: its request headers, the
messages the client sent and the ones the fake sent back (tests check both against the
vendors' own types).
"""

from __future__ import annotations

import asyncio
from base64 import b64encode
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from junction.media.encode import tone_pcm
from junction.testing.fake_gemini import split_text
from junction.testing.fakeserver import FakeProviderServer, Reply

GEMINI_PATH = "/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent"


@dataclass
class Connection:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)


def speech(reply: Reply) -> list[bytes]:
    """The reply's audio in three pieces."""
    pcm = b"".join(data for _, data in reply.media) or tone_pcm(reply.text or "-", 0.3, 24000)
    third = (len(pcm) // 3) & ~1
    return [pcm[:third], pcm[third : 2 * third], pcm[2 * third :]]


def _pieces(text: str) -> list[str]:
    parts = split_text(text)
    return parts + [""] * (3 - len(parts))


class FakeRealtime(FakeProviderServer):
    """Both dialects on one server; ``connections`` records every session."""

    def __init__(self) -> None:
        super().__init__()
        self.connections: list[Connection] = []

    def reset_attributes(self) -> dict[str, Any]:
        self.connections = []
        return {}

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/realtime", self._openai)
        app.router.add_get(GEMINI_PATH, self._gemini)

    async def _open(self, request: web.Request) -> tuple[web.WebSocketResponse, Connection]:
        ws = web.WebSocketResponse(max_msg_size=64 * 1024 * 1024)
        await ws.prepare(request)
        conn = Connection(request.path, dict(request.query), dict(request.headers))
        self.connections.append(conn)
        return ws, conn

    @staticmethod
    async def _messages(ws: web.WebSocketResponse, conn: Connection) -> Any:
        async for message in ws:
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            data = orjson.loads(message.data)
            conn.received.append(data)
            yield data

    # -- OpenAI Realtime --------------------------------------------------------------------
    async def _openai(self, request: web.Request) -> web.WebSocketResponse:
        ws, conn = await self._open(request)
        counter = iter(range(1, 1_000_000))

        async def send(event: dict[str, Any]) -> None:
            event = {"event_id": f"event_{next(counter)}", **event}
            conn.sent.append(event)
            await ws.send_str(orjson.dumps(event).decode())

        model = request.query.get("model", "")
        await send({"type": "session.created", "session": {"type": "realtime", "model": model}})
        modalities = ["audio"]
        async for data in self._messages(ws, conn):
            kind = data.get("type")
            if kind == "session.update":
                session = data.get("session") or {}
                modalities = session.get("output_modalities") or modalities
                await send({"type": "session.updated", "session": session})
            elif kind == "input_audio_buffer.commit":
                await send(
                    {
                        "type": "input_audio_buffer.committed",
                        "item_id": "item_in",
                        "previous_item_id": None,
                    }
                )
            elif kind == "response.create":
                await self._openai_answer(send, self.next_reply(conn.received), modalities)
        return ws

    async def _openai_answer(self, send: Any, reply: Reply, modalities: list[str]) -> None:
        ids = {"response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0}
        await send(
            {
                "type": "response.created",
                "response": {
                    "id": "resp_1",
                    "object": "realtime.response",
                    "status": "in_progress",
                },
            }
        )
        if reply.status >= 400:
            kind = "invalid_request_error" if reply.status < 500 else "server_error"
            await send({"type": "error", "error": {"type": kind, "message": reply.error_message}})
            return
        spoken = "audio" in modalities
        for text, pcm in zip(_pieces(reply.text), speech(reply), strict=True):
            if spoken:
                delta = b64encode(pcm).decode("ascii")
                await send({"type": "response.output_audio.delta", **ids, "delta": delta})
            if text:
                kind = (
                    "response.output_audio_transcript.delta"
                    if spoken
                    else "response.output_text.delta"
                )
                await send({"type": kind, **ids, "delta": text})
            await asyncio.sleep(reply.chunk_delay)
        if spoken:
            await send({"type": "response.output_audio.done", **ids})
            await send(
                {"type": "response.output_audio_transcript.done", **ids, "transcript": reply.text}
            )
        for index, (name, args) in enumerate(reply.tool_calls):
            await send(
                {
                    "type": "response.function_call_arguments.done",
                    "response_id": "resp_1",
                    "item_id": f"item_call_{index}",
                    "output_index": index + 1,
                    "call_id": f"call_{index}_{name}",
                    "name": name,
                    "arguments": orjson.dumps(args).decode(),
                }
            )
        usage = {
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
            "input_token_details": {"cached_tokens": 0},
        }
        response = {"id": "resp_1", "object": "realtime.response", "status": "completed"}
        await send({"type": "response.done", "response": {**response, "usage": usage}})

    # -- Gemini Live ------------------------------------------------------------------------
    async def _gemini(self, request: web.Request) -> web.WebSocketResponse:
        ws, conn = await self._open(request)

        async def send(message: dict[str, Any]) -> None:
            conn.sent.append(message)
            await ws.send_bytes(orjson.dumps(message))

        spoken = True
        async for data in self._messages(ws, conn):
            setup = data.get("setup")
            if isinstance(setup, dict):
                modalities = (setup.get("generationConfig") or {}).get("responseModalities")
                spoken = modalities != ["TEXT"]
                await send({"setupComplete": {}})
                continue
            content = data.get("clientContent") or {}
            realtime = data.get("realtimeInput") or {}
            if content.get("turnComplete") or "activityEnd" in realtime or "toolResponse" in data:
                await self._gemini_answer(ws, send, self.next_reply(conn.received), spoken)
        return ws

    async def _gemini_answer(
        self, ws: web.WebSocketResponse, send: Any, reply: Reply, spoken: bool
    ) -> None:
        if reply.status >= 400:  # Gemini Live refuses by closing the socket with a reason
            await ws.close(
                code=1007 if reply.status < 500 else 1011, message=reply.error_message.encode()
            )
            return
        usage = {
            "promptTokenCount": reply.input_tokens,
            "responseTokenCount": reply.output_tokens,
            "totalTokenCount": reply.input_tokens + reply.output_tokens,
        }
        for text, pcm in zip(_pieces(reply.text), speech(reply), strict=True):
            if spoken:
                blob = {"mimeType": "audio/pcm;rate=24000", "data": b64encode(pcm).decode("ascii")}
                await send({"serverContent": {"modelTurn": {"parts": [{"inlineData": blob}]}}})
                if text:
                    await send({"serverContent": {"outputTranscription": {"text": text}}})
            elif text:
                await send({"serverContent": {"modelTurn": {"parts": [{"text": text}]}}})
            await asyncio.sleep(reply.chunk_delay)
        if reply.tool_calls:
            calls = [
                {"id": f"call_{index}_{name}", "name": name, "args": args}
                for index, (name, args) in enumerate(reply.tool_calls)
            ]
            await send({"toolCall": {"functionCalls": calls}, "usageMetadata": usage})
            return
        await send({"serverContent": {"generationComplete": True}})
        await send({"serverContent": {"turnComplete": True}, "usageMetadata": usage})
